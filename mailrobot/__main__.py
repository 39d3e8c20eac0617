from mailrobot.cli import main

main()
