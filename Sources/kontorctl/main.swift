import KontorCLI

await KontorCtl.main()
