import KontorServer

/// The kontor-server executable: everything lives in the KontorServer library.
@main
enum KontorServerMain {
    static func main() async {
        await KontorServerCommand.main()
    }
}
