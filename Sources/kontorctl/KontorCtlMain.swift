import KontorCLI

/// The kontorctl executable: everything lives in the KontorCLI library.
@main
enum KontorCtlMain {
    static func main() async {
        await KontorCtl.mainWithGlobalOptions()
    }
}
