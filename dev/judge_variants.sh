J='"steps":2000'
go judge J_pre500 "{$J,\"vision_pretrain_steps\":500}" $WALL 250 $W
go judge J_p4pre500 "{$J,\"patch_size\":4,\"vision_pretrain_steps\":500}" $WALL 250 $W
go judge J_p4pre1500 "{$J,\"patch_size\":4,\"vision_pretrain_steps\":1500}" $WALL 250 $W
