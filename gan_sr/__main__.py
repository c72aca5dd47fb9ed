from gan_sr.cli import main

main()
