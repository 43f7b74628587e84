from ehforms.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised by the python -m smoke test
    main()
