import Foundation
import Hummingbird
import KontorCore
import Mustache

/// The console's Mustache templates, compiled into the binary (`Templates/*.mustache`, embedded by the
/// package manifest) so an installed server needs no template folder. Output is HTML-escaped unless a
/// template says otherwise with `{{{...}}}`, which none does.
struct ConsoleRenderer: Sendable {
    let library: MustacheLibrary

    static let shared: ConsoleRenderer = {
        do {
            return try ConsoleRenderer()
        } catch {
            // The templates are part of the build; a broken one fails the test suite long before a release.
            fatalError("console templates do not parse: \(error)")
        }
    }()

    static let templates: [String: [UInt8]] = [
        "layout": PackageResources.layout_mustache,
        "error": PackageResources.error_mustache,
        "sign-in": PackageResources.sign_in_mustache,
        "signed-in": PackageResources.signed_in_mustache,
        "no-role": PackageResources.no_role_mustache,
        "dashboard": PackageResources.dashboard_mustache,
        "devices": PackageResources.devices_mustache,
        "device": PackageResources.device_mustache,
        "persons": PackageResources.persons_mustache,
        "person": PackageResources.person_mustache,
        "enroll-tokens": PackageResources.enroll_tokens_mustache,
        "enroll-token-created": PackageResources.enroll_token_created_mustache,
        "profiles": PackageResources.profiles_mustache,
        "profile": PackageResources.profile_mustache,
        "quiet-hours": PackageResources.quiet_hours_mustache,
        "audit": PackageResources.audit_mustache,
        "terms": PackageResources.terms_mustache,
        "person-import": PackageResources.person_import_mustache,
        "dpo-report": PackageResources.dpo_report_mustache,
        "person-export": PackageResources.person_export_mustache,
        "settings": PackageResources.settings_mustache,
        "approvals": PackageResources.approvals_mustache,
    ]

    init() throws {
        var library = MustacheLibrary()
        for (name, bytes) in Self.templates {
            try library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.library = library
    }

    /// Renders `template` with every string of `context` made visible first (``visible(_:)``).
    func render(_ template: String, _ context: [String: Any]) -> String {
        guard let text = library.render(Self.visible(context), withTemplate: template) else { fatalError("no console template \(template)") }
        return text
    }

    /// Whitespace a page lays out (the policy's JSON, multi-line text) and that HTML shows harmlessly.
    static let layoutCharacters: Set<Unicode.Scalar> = ["\n", "\r", "\t"]

    /// `value` with every string in it, however deeply nested, written with its control and invisible
    /// characters in a visible form (``VisibleText``): HTML escaping keeps markup out, this keeps out a
    /// right-to-left override that turns a name around or a zero-width space that makes the device name
    /// in a wipe confirmation impossible to type. One place, so no page can forget it.
    static func visible(_ context: [String: Any]) -> [String: Any] { context.mapValues(visible(any:)) }

    private static func visible(any value: Any) -> Any {
        switch value {
        case let text as String: VisibleText.escaped(text, keeping: layoutCharacters)
        case let object as [String: Any]: visible(object)
        case let list as [[String: Any]]: list.map(visible)
        case let list as [String]: list.map { VisibleText.escaped($0, keeping: layoutCharacters) }
        case let list as [Any]: list.map(visible(any:))
        default: value
        }
    }
}

/// The stylesheet and the small script, compiled in like the templates.
enum ConsoleAssets {
    static let files: [String: (type: String, bytes: [UInt8])] = [
        "console.css": ("text/css; charset=utf-8", PackageResources.console_css),
        "console.js": ("text/javascript; charset=utf-8", PackageResources.console_js),
    ]

    static func register(on group: RouterGroup<KontorRequestContext>, table: ConsoleRouteTable) {
        group.get("static/{file}") { _, context in
            let name = try context.parameters.require("file")
            guard let file = files[name] else { throw HTTPError(.notFound) }
            return Response(
                status: .ok, headers: [.contentType: file.type, .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
        }
    }
}
