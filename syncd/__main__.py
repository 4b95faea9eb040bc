from syncd.cli.main import main

if __name__ == "__main__":  # a spawned helper process imports this module too
    main()
