"""Run under torchrun by test_train.py: train tiny-synthetic data-parallel, save each rank's weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ofa_deploy.train.progressive import Trainer, init_distributed
from ofa_deploy.train.recipe import load_recipe

out = Path(sys.argv[1])
init_distributed()
torch.set_num_threads(1)
trainer = Trainer(load_recipe("tiny-synthetic"), out)
trainer.run()
torch.save(trainer.model.state_dict(), out / f"rank{dist.get_rank()}.pt")
(out / f"rank{dist.get_rank()}.batch").write_text(str(trainer.stream.batch_size))
dist.barrier()
dist.destroy_process_group()
