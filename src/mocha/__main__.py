"""`python -m mocha ...` is the `mocha` command line."""

from mocha.cli.app import main

if __name__ == "__main__":
    main()
