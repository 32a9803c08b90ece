"""Generator backends: EditModel over diffusers transformers, the tiny text encoder, samplers, the SDE
step and the flow-matching loss. Import the submodules directly (they pull in diffusers/transformers)."""
