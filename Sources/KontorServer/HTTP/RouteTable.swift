import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Synchronization

/// Every route the server registers, as `METHOD /path`, so tests can hold it against the OpenAPI document.
public final class RouteTable: Sendable {
    private let entries = Mutex<[String]>([])

    public init() {}

    func add(_ method: HTTPRequest.Method, _ path: String) { entries.withLock { $0.append("\(method.rawValue) \(path)") } }

    /// The registered routes, e.g. `GET /api/v1/devices/{id}`.
    public var all: [String] { entries.withLock { $0 } }
}

extension RouterMethods {
    /// Registers `handler` at `prefix` + `path` and records it in `table`.
    @discardableResult
    func on(
        _ method: HTTPRequest.Method, _ prefix: String, _ path: String, table: RouteTable,
        use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        table.add(method, prefix.isEmpty ? path : (path.isEmpty ? prefix : prefix + "/" + path))
        return self.on(RouterPath(path), method: method, use: handler)
    }
}
