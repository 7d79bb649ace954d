import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Metrics
import Synchronization

/// Signs server replies to device requests with the server key, bound to the request they answer.
struct ResponseSigner: Sendable {
    let key: ServerSigningKey
    let clock: WallClock

    /// Encoded "unchanged" check-in replies without commands, by policy hash and interval: most check-ins
    /// get one of a few identical bodies, so they are encoded and digested once.
    let unchangedReplies = UnchangedReplies()

    func signedJSON<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, answering request: SignatureMessage) throws -> Response {
        let body = try KontorJSON.encode(value)
        return try signed(body: body, digest: ContentDigest.header(for: body), status: status, answering: request)
    }

    /// The reply to a check-in that changes nothing and carries no commands.
    func signedUnchanged(hash: String, interval: Int, longPoll: Bool = false, answering request: SignatureMessage) throws -> Response {
        let (body, digest) = try unchangedReplies.body(hash: hash, interval: interval, longPoll: longPoll)
        return try signed(body: body, digest: digest, status: .ok, answering: request)
    }

    func signed(body: Data, digest: String, status: HTTPResponse.Status, answering request: SignatureMessage) throws -> Response {
        var message = SignatureMessage(status: Int(status.code), headers: [("Content-Digest", digest)], request: request)
        let parameters = SignatureParameters(
            components: DeviceAPI.responseComponents, created: Int(clock.now().timeIntervalSince1970), keyID: key.keyID)
        let (input, signature) = try HTTPMessageSignatures.sign(message, parameters: parameters, key: key.privateKey)
        message.setField("Signature", signature)
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers[HTTPField.Name("Content-Digest")!] = digest
        headers[HTTPField.Name("Signature-Input")!] = input
        headers[HTTPField.Name("Signature")!] = signature
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The error body of `refusal`, signed like any reply.
    func signedError(_ refusal: DeviceRefusal) throws -> Response {
        try signedJSON(
            APIErrorBody(code: refusal.error.code.rawValue, message: refusal.error.message), status: refusal.error.status, answering: refusal.request)
    }
}
