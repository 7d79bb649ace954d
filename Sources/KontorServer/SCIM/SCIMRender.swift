import Foundation
import KontorCore
import KontorStore

/// Users and groups as SCIM JSON, with `meta` (location, times, and the version that is also the ETag:
/// a hash of everything else in the resource, so any change anywhere changes it).
struct SCIMRender {
    let base: String

    func user(_ user: SCIMUser, in view: SCIMView) -> JSONValue {
        var object: [String: JSONValue] = [
            "schemas": .array([.string(SCIMDiscovery.userSchema)]), "id": .string(user.id), "userName": .string(user.userName),
            "displayName": .string(user.person.displayName), "active": .bool(user.active),
            "emails": .array([.object(["value": .string(user.person.email)])]),
        ]
        if let externalId = user.externalId { object["externalId"] = .string(externalId) }
        if let phone = user.person.phone { object["phoneNumbers"] = .array([.object(["value": .string(phone)])]) }
        let groups = view.groups.filter { user.person.groups.contains($0.name) }
        if !groups.isEmpty {
            object["groups"] = .array(
                groups.map { .object(["value": .string($0.id), "display": .string($0.displayName), "$ref": .string("\(base)/Groups/\($0.id)")]) })
        }
        let created = user.link?.createdAt ?? user.person.createdAt
        return withMeta(object, type: "User", location: "\(base)/Users/\(user.id)", created: created, modified: max(created, user.link?.updatedAt ?? created))
    }

    func group(_ group: SCIMGroup, in view: SCIMView) -> JSONValue {
        var object: [String: JSONValue] = [
            "schemas": .array([.string(SCIMDiscovery.groupSchema)]), "id": .string(group.id), "displayName": .string(group.displayName),
            "members": .array(
                view.members(of: group).map {
                    .object(["value": .string($0.id), "$ref": .string("\(base)/Users/\($0.id)")])
                }),
        ]
        if let externalId = group.externalId { object["externalId"] = .string(externalId) }
        return withMeta(object, type: "Group", location: "\(base)/Groups/\(group.id)", created: group.createdAt, modified: group.updatedAt)
    }

    private func withMeta(_ object: [String: JSONValue], type: String, location: String, created: Date, modified: Date) -> JSONValue {
        var out = object
        out["meta"] = .object([
            "resourceType": .string(type), "location": .string(location), "created": .string(ISO8601.string(from: created)),
            "lastModified": .string(ISO8601.string(from: modified)), "version": .string(Self.etag(of: .object(object))),
        ])
        return .object(out)
    }

    /// A weak ETag over the resource without its meta.
    static func etag(of resource: JSONValue) -> String {
        var object = resource.object ?? [:]
        object["meta"] = nil
        return "W/\"" + String(Bytes.sha256Hex(Data(JSONValue.object(object).text.utf8)).prefix(32)) + "\""
    }

    /// The version in a rendered resource's meta.
    static func version(_ resource: JSONValue) -> String? { resource["meta"]?["version"]?.string }

    /// `resource` with only the attributes asked for (`attributes`) or without those excluded
    /// (`excludedAttributes`); `id` and `schemas` stay, as RFC 7644 §3.9 says.
    static func project(_ resource: JSONValue, attributes: [SCIMPath]?, excluded: [SCIMPath]?) -> JSONValue {
        guard case .object(let object) = resource else { return resource }
        var out = object
        if let attributes, !attributes.isEmpty {
            out = [:]
            for (key, value) in object {
                let lower = key.lowercased()
                if ["id", "schemas"].contains(lower) {
                    out[key] = value
                    continue
                }
                let asked = attributes.filter { $0.attribute.lowercased() == lower && $0.urn == nil }
                if asked.contains(where: { $0.subAttribute == nil }) {
                    out[key] = value
                } else if !asked.isEmpty {
                    let subs = Set(asked.compactMap { $0.subAttribute?.lowercased() })
                    out[key] = keepSubAttributes(value, subs)
                }
            }
        }
        for path in excluded ?? [] where path.urn == nil {
            guard let key = SCIMJSON.key(out, path.attribute), !["id", "schemas"].contains(key.lowercased()) else { continue }
            if let sub = path.subAttribute {
                out[key] = dropSubAttribute(out[key]!, sub.lowercased())
            } else {
                out[key] = nil
            }
        }
        return .object(out)
    }

    private static func keepSubAttributes(_ value: JSONValue, _ subs: Set<String>) -> JSONValue {
        switch value {
        case .array(let items): .array(items.map { keepSubAttributes($0, subs) })
        case .object(let o): .object(o.filter { subs.contains($0.key.lowercased()) })
        default: value
        }
    }

    private static func dropSubAttribute(_ value: JSONValue, _ sub: String) -> JSONValue {
        switch value {
        case .array(let items): .array(items.map { dropSubAttribute($0, sub) })
        case .object(let o): .object(o.filter { $0.key.lowercased() != sub })
        default: value
        }
    }
}
