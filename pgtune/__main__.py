from pgtune.cli import main

main()
