"""``python -m vsr`` (also what ``torchrun -m vsr`` runs)."""

from vsr.cli import main

if __name__ == "__main__":
    main()
