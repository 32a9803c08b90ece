#!/bin/bash
# GPU learning-curve sweep of embedded teacher/judge configs (developer tool).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
nvidia-smi -L
W=/tmp/sw; mkdir -p $W
WALL=${WALL:-380}
go() { timeout ${TMO:-530} python3 dev/sweep.py "$@" > $W/$2.log 2>&1 & }
T='"steps":30000,"min_lr_ratio":1.0'
go teacher T_base "{$T}" $WALL 1000 $W grid
go teacher T_p2 "{$T,\"patch_size\":2}" $WALL 1000 $W grid
go teacher T_wide6 "{$T,\"num_heads\":8,\"caption_projection_dim\":256,\"num_layers\":6}" $WALL 1000 $W grid
go teacher T_b64 "{$T,\"batch_size\":64}" $WALL 1000 $W grid
go teacher T_txt "{$T,\"text_hidden\":128,\"text_layers\":3}" $WALL 1000 $W grid
go teacher T_deep8 "{$T,\"num_layers\":8}" $WALL 1000 $W grid
J='"steps":20000'
go judge J_base "{$J}" $WALL 250 $W
go judge J_p4 "{$J,\"patch_size\":4}" $WALL 250 $W
go judge J_lm "{$J,\"text_hidden\":256,\"text_intermediate\":512,\"text_layers\":4}" $WALL 250 $W
go judge J_lr3 "{$J,\"lr\":3e-3}" $WALL 250 $W
go judge J_vis "{$J,\"vision_hidden\":192,\"vision_layers\":4}" $WALL 250 $W
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait
cd $W && tar czf $OUT/res.tgz --exclude='*_model' . && for f in *.log; do echo "== $f"; tail -n 2 $f | cut -c1-400; done
