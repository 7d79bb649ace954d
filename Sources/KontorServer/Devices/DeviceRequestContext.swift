import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// A device request whose signature verified: the device, the body the signature's digest covers, and the
/// request as the signature saw it (the signed reply answers it).
public struct VerifiedDeviceRequest: Sendable {
    public let device: AuthenticatedDevice
    public let body: Data
    let message: SignatureMessage
}

/// The context of device routes: creating it fails unless ``DeviceAuthMiddleware`` verified the request,
/// so a device handler, like an admin one, always has its caller.
public struct DeviceRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// What handlers return is encoded with the shared JSON coder (sorted keys, ISO 8601 UTC).
    public var responseEncoder: JSONEncoder { KontorJSON.makeEncoder() }
    public let verified: VerifiedDeviceRequest
    /// The client's connection (``KontorRequestContext/connection``).
    public let connection: ObjectIdentifier
    /// Where a check-in leaves its wait (``KontorRequestContext/heldCheckin``).
    let heldCheckin: HeldCheckinSlot?

    public var device: AuthenticatedDevice { verified.device }
    public var body: Data { verified.body }

    public init(context: KontorRequestContext) throws {
        guard let verified = context.deviceRequest else {
            throw APIError(.unauthorized, .signatureMissing, "this endpoint needs an RFC 9421 signature (Signature-Input and Signature fields)")
        }
        self.coreContext = context.coreContext
        self.verified = verified
        self.connection = context.connection
        self.heldCheckin = context.heldCheckin
    }
}

/// Verifies the RFC 9421 signature of a device request (``DeviceAuthenticator``) and puts the device in
/// the context. A device that may not go on (revoked, or replaced and due a wipe) gets a refusal signed
/// with the server key, which its agent can trust and act on.
struct DeviceAuthMiddleware: RouterMiddleware {
    typealias Context = KontorRequestContext
    let authenticator: DeviceAuthenticator
    let signer: ResponseSigner
    let bodyLimit: Int
    /// Lets revoked and replaced devices through (to send the receipt of a wipe they did).
    var allowRevoked = false
    /// Told of every refused request (the check-in counter).
    var refused: @Sendable () -> Void = {}

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            let body = try await request.collectBody(limit: bodyLimit)
            let (device, _, message) = try await authenticator.authenticate(request, body: body, allowRevoked: allowRevoked)
            context.deviceRequest = VerifiedDeviceRequest(device: device, body: body, message: message)
            context.logger[metadataKey: "device.id"] = "\(device.id)"
        } catch {
            return try refusal(error)
        }
        return try await next(request, context)
    }

    private func refusal(_ error: any Error) throws -> Response {
        refused()
        guard let refusal = error as? DeviceRefusal else { throw error }
        return try signer.signedError(refusal)
    }
}

extension Services {
    /// The routes under `prefix` that take only requests signed by an active device (at most 256 KiB), with
    /// the verified device in their context and refusals signed.
    func signedDeviceRoutes(_ router: Router<KontorRequestContext>, prefix: String) -> RouterGroup<DeviceRequestContext> {
        router.group(RouterPath(prefix))
            .add(middleware: DeviceAuthMiddleware(authenticator: deviceAuth, signer: signer, bodyLimit: min(config.maxBodyBytes, 256 * 1024)))
            .group(context: DeviceRequestContext.self)
    }
}
