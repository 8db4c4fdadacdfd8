"""`python -m ofa_deploy ...` = `ofa-deploy ...`; also what `torchrun -m ofa_deploy ...` starts in each process."""

from .cli import main

if __name__ == "__main__":
    main()
