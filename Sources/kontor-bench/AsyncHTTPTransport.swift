import AsyncHTTPClient
import Foundation
import KontorClient
import NIOCore
import NIOHTTP1

/// KontorClient's transport over the benchmark's AsyncHTTPClient, so its admin calls share the pooled
/// client the load uses. The product (agent, kontorctl) uses `HTTP1Transport`.
struct AsyncHTTPTransport: HTTPTransport {
    let client: HTTPClient

    func send(method: HTTPMethod, url: String, headers: [(String, String)], body: Data?, limit: Int, timeout: TimeAmount) async throws -> HTTPExchange {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw ClientError.transport("\(error)")
        }
        let collected: ByteBuffer
        do {
            collected = try await response.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ClientError.badResponse("body larger than \(limit) bytes")
        } catch {
            throw ClientError.transport("\(error)")
        }
        return HTTPExchange(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Data(collected.readableBytesView))
    }
}
