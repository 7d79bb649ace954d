import KontorServer

await KontorServerCommand.main()
