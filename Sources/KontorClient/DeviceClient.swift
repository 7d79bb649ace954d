import Crypto
import KontorCore
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a device needs to talk to its server after enrollment.
public struct DeviceIdentity: Sendable {
    public var deviceId: String
    public var privateKey: Curve25519.Signing.PrivateKey
    /// The server's response-signing key, pinned at enrollment.
    public var serverKey: Curve25519.Signing.PublicKey

    public init(deviceId: String, privateKey: Curve25519.Signing.PrivateKey, serverKey: Curve25519.Signing.PublicKey) {
        self.deviceId = deviceId
        self.privateKey = privateKey
        self.serverKey = serverKey
    }

    public var keyId: String { DeviceKeys.keyID(for: privateKey.publicKey) }
}

/// A signed reply from the server, verified against the pinned key.
public struct VerifiedReply<Body: Sendable>: Sendable {
    public var body: Body
    public var status: Int
}

/// The device side of the protocol: enrollment and signed check-ins with verified replies.
public struct DeviceClient: Sendable {
    public let server: ServerURL
    let transport: any HTTPTransport
    let clock: WallClock
    /// The largest reply accepted; anything bigger is refused unread.
    public var responseLimit = 4 << 20
    public var timeout: TimeAmount = .seconds(30)

    public init(server: String, transport: any HTTPTransport = HTTP1Transport(), clock: WallClock = .system) throws {
        self.server = try ServerURL(server)
        self.transport = transport
        self.clock = clock
    }

    /// Enrolls with `token`, proving possession of `key` by signing the request with it. The reply must be
    /// signed by the server key it announces (trust on first use); the caller pins that key.
    public func enroll(token: String, key: Curve25519.Signing.PrivateKey, facts: DeviceFacts, acceptedTermsVersion: String?) async throws -> EnrollResponse {
        let request = EnrollRequest(token: token, publicKey: DeviceKeys.base64(key.publicKey), facts: facts, acceptedTermsVersion: acceptedTermsVersion)
        let (exchange, signed) = try await post(DeviceAPI.enrollPath, body: try KontorJSON.encode(request), key: key)
        guard exchange.status == 201 else { throw apiError(exchange) }
        let response: EnrollResponse
        do {
            response = try KontorJSON.decode(EnrollResponse.self, from: exchange.body)
        } catch {
            throw ClientError.badResponse("enrollment reply is not the expected JSON")
        }
        guard let serverKey = DeviceKeys.publicKey(base64: response.serverPublicKey) else {
            throw ClientError.badResponse("enrollment reply has no usable server key")
        }
        try Self.verifyReply(exchange, answering: signed, serverKey: serverKey)
        return response
    }

    /// A signed check-in; the reply must verify against the pinned server key.
    public func checkin(_ request: CheckinRequest, identity: DeviceIdentity) async throws -> VerifiedReply<CheckinResponse> {
        let (exchange, signed) = try await post(DeviceAPI.checkinPath, body: try KontorJSON.encode(request), key: identity.privateKey)
        guard exchange.status == 200 else { throw Self.refusal(exchange, answering: signed, serverKey: identity.serverKey) }
        try Self.verifyReply(exchange, answering: signed, serverKey: identity.serverKey)
        do {
            return VerifiedReply(body: try KontorJSON.decode(CheckinResponse.self, from: exchange.body), status: exchange.status)
        } catch {
            throw ClientError.badResponse("check-in reply is signed but not the expected JSON")
        }
    }

    /// Sends a signed wipe receipt; the confirmation must verify against the pinned server key.
    public func sendReceipt(_ receipt: SignedReceipt, identity: DeviceIdentity) async throws -> ReceiptConfirmation {
        try await signedCall(DeviceAPI.receiptsPath, receipt, as: ReceiptConfirmation.self, identity: identity)
    }

    /// The text of a version of the usage terms; the reply must verify and the text must hash to `sha256`.
    public func termsText(version: String, sha256: String, identity: DeviceIdentity) async throws -> UsageTerms {
        let terms = try await signedCall(DeviceAPI.termsPath, TermsTextRequest(version: version), as: UsageTerms.self, identity: identity)
        guard terms.version == version, Bytes.sha256Hex(Data(terms.text.utf8)) == sha256,
            terms.undertaking.map({ Bytes.sha256Hex(Data($0.utf8)) }) == terms.undertakingSha256
        else { throw ClientError.badResponse("the text of usage terms \(version) does not have the hash the policy names") }
        return terms
    }

    /// Sends a signed answer to the usage terms; the confirmation must verify against the pinned server key.
    public func sendTermsResponse(_ response: SignedTermsResponse, identity: DeviceIdentity) async throws -> TermsResponseConfirmation {
        try await signedCall(DeviceAPI.termsResponsesPath, response, as: TermsResponseConfirmation.self, identity: identity)
    }

    /// Announces an archive of retained work data (or asks how far its upload got); the reply is signed.
    public func announceArchive(_ announcement: ArchiveAnnouncement, identity: DeviceIdentity) async throws -> ArchiveUploadState {
        try await signedCall("/api/v1/device/archives", announcement, as: ArchiveUploadState.self, identity: identity)
    }

    /// Sends the archive's bytes at `offset` (at most the server's chunk size).
    public func sendArchiveChunk(id: String, offset: Int64, bytes: some Sequence<UInt8>, identity: DeviceIdentity) async throws -> ArchiveUploadState {
        let chunk = ArchiveChunk(id: id, offset: offset, data: Data(bytes).base64EncodedString())
        return try await signedCall("/api/v1/device/archives/chunk", chunk, as: ArchiveUploadState.self, identity: identity)
    }

    /// Ends the upload: the server checks size and SHA-256 and keeps the archive.
    public func completeArchive(id: String, identity: DeviceIdentity) async throws -> ArchiveUploadState {
        try await signedCall("/api/v1/device/archives/complete", ArchiveCompletion(id: id), as: ArchiveUploadState.self, identity: identity)
    }

    /// A signed POST whose 200 reply must verify against the pinned server key and decode as `Output`.
    func signedCall<Input: Encodable, Output: Decodable>(
        _ path: String, _ input: Input, as: Output.Type, identity: DeviceIdentity
    ) async throws -> Output {
        let (exchange, signed) = try await post(path, body: try KontorJSON.encode(input), key: identity.privateKey)
        guard exchange.status == 200 else { throw Self.refusal(exchange, answering: signed, serverKey: identity.serverKey) }
        try Self.verifyReply(exchange, answering: signed, serverKey: identity.serverKey)
        do {
            return try KontorJSON.decode(Output.self, from: exchange.body)
        } catch {
            throw ClientError.badResponse("the reply to \(path) is signed but not the expected JSON")
        }
    }

    /// The error of a failed exchange: `device_revoked` counts only when the server signed it.
    static func refusal(_ exchange: HTTPExchange, answering request: SignatureMessage, serverKey: Curve25519.Signing.PublicKey) -> ClientError {
        let error = apiError(exchange)
        if error.code == ErrorCode.deviceRevoked.rawValue, case .api(_, _, let message) = error,
            (try? verifyReply(exchange, answering: request, serverKey: serverKey)) != nil
        {
            return .deviceRevoked(message)
        }
        return error
    }

    /// Builds, signs and sends a POST; returns the exchange and the request as signed.
    func post(_ path: String, body: Data, key: Curve25519.Signing.PrivateKey) async throws -> (HTTPExchange, SignatureMessage) {
        let (headers, message) = try Self.sign(method: "POST", server: server, path: path, body: body, key: key, now: clock.now())
        let exchange: HTTPExchange
        do {
            exchange = try await transport.send(method: .POST, url: server.url(path), headers: headers, body: body, limit: responseLimit, timeout: timeout)
        } catch let error as ClientError {
            throw error
        } catch let error as CancellationError {
            // The agent is stopping (SIGTERM during a long poll): not a failed check-in.
            throw error
        } catch {
            throw ClientError.transport(describe(error))
        }
        return (exchange, message)
    }

    /// The headers of a signed request and the message as the server will see it.
    /// `keyID` may be passed when known, to spare deriving it from the key (the load generator does).
    public static func sign(
        method: String, server: ServerURL, path: String, query: String? = nil, body: Data, key: Curve25519.Signing.PrivateKey, keyID: String? = nil, now: Date
    ) throws -> ([(String, String)], SignatureMessage) {
        let fullPath = server.basePath + path
        var headers = [("Host", server.authority), ("Content-Type", "application/json"), ("Content-Digest", ContentDigest.header(for: body))]
        var message = SignatureMessage(method: method, authority: server.authority, path: fullPath, query: query, headers: headers)
        var random = SystemRandomNumberGenerator()
        let (high, low) = (random.next(), random.next())  // 128 random bits, two reads of the system source
        let nonce = Bytes.base64URL((0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> (UInt64(i % 8) * 8)) })
        let parameters = SignatureParameters(
            components: DeviceAPI.requiredRequestComponents.map { SignatureComponent($0) }, created: Int(now.timeIntervalSince1970),
            keyID: keyID ?? DeviceKeys.keyID(for: key.publicKey), nonce: nonce)
        let (input, signature) = try HTTPMessageSignatures.sign(message, parameters: parameters, key: key)
        headers.append(("Signature-Input", input))
        headers.append(("Signature", signature))
        message.setField("Signature-Input", input)
        message.setField("Signature", signature)
        return (headers, message)
    }

    /// Checks that `exchange` carries a valid server signature bound to `request` and a matching digest.
    public static func verifyReply(_ exchange: HTTPExchange, answering request: SignatureMessage, serverKey: Curve25519.Signing.PublicKey) throws {
        let message = SignatureMessage(status: exchange.status, headers: exchange.headers, request: request)
        do {
            let verified = try HTTPMessageSignatures.verify(message, label: DeviceAPI.signatureLabel, required: ["@status", "content-digest"]) { keyID in
                guard keyID == DeviceKeys.keyID(for: serverKey) else { throw HTTPSignatureError.unknownKey(keyID) }
                return serverKey
            }
            guard verified.parameters.components.contains(SignatureComponent("signature", key: DeviceAPI.signatureLabel, fromRequest: true)) else {
                throw HTTPSignatureError.requiredComponentNotCovered("signature;req")
            }
            try ContentDigest.verify(message.fields["content-digest"], body: exchange.body)
        } catch let error as HTTPSignatureError {
            throw ClientError.badResponse("reply rejected: \(error)")
        }
    }
}
