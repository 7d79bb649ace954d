import KontorAgent

/// The kontor-agent executable: everything lives in the KontorAgent library.
@main
enum KontorAgentMain {
    static func main() async {
        AgentProcess.configure()
        await KontorAgentCommand.main()
    }
}
