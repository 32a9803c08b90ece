"""Generator backends: EditModel over diffusers transformers, the tiny text encoder, samplers and
the embedded teacher. Import the submodules directly (they pull in diffusers/transformers)."""
