#!/bin/bash
# Second GPU sweep: x-prediction and latent (world VAE) teachers on their real cosine schedule; judge pretraining.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
W=/tmp/sw; mkdir -p $W
WALL=${WALL:-270}
go() { timeout ${TMO:-330} python3 dev/sweep.py "$@" > $W/$2.log 2>&1 & }
T='"steps":2500'
L='"latent_channels":4,"patch_size":1,"vae_blocks":[16,32,32],"vae_steps":1500'
go teacher T_base "{$T}" $WALL 500 $W grid
go teacher T_x "{$T,\"prediction\":\"sample\"}" $WALL 500 $W grid
go teacher T_p2x "{$T,\"prediction\":\"sample\",\"patch_size\":2}" $WALL 500 $W grid
go teacher T_xln0 "{$T,\"prediction\":\"sample\",\"logit_mean\":0.0,\"logit_std\":1.0}" $WALL 500 $W grid
go teacher T_lat4 "{$T,$L}" $WALL 500 $W grid
go teacher T_lat4x "{$T,$L,\"prediction\":\"sample\"}" $WALL 500 $W grid
go teacher T_lat8 "{$T,$L,\"latent_channels\":8}" $WALL 500 $W grid
go teacher T_lat4s "{$T,$L,\"vae_blocks\":[8,16,32]}" $WALL 500 $W grid
[ -f dev/judge_variants.sh ] && source dev/judge_variants.sh
wait
cd $W && tar czf $OUT/res.tgz --exclude='*_model' . && for f in *.log; do echo "== $f"; grep '^[TJ]_' $f | tail -n 1 | cut -c1-420; tail -n 1 $f | grep -i error; done
