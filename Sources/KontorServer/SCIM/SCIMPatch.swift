import Foundation
import KontorCore

/// SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: the result is then read like the body of a
/// PUT, so a PATCH can do exactly what a PUT can and is checked the same way. It takes the forms directories
/// send: Entra ID's capitalised ops (`"Replace"`), paths with filters (`emails[type eq "work"].value`, which
/// creates the element when none matches), remove with a value (`members` minus `[{"value": id}]`); Okta's
/// path-less replace with an object (`{"active": false}`), with dotted or URN-qualified keys.
struct SCIMPatch {
    static let schema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

    enum Op: String { case add, replace, remove }

    struct Operation {
        var op: Op
        var path: String?
        var value: JSONValue?
    }

    let coreSchemas: [String]

    /// The operations of a PatchOp body (at most 1000).
    static func operations(_ body: JSONValue) throws -> [Operation] {
        guard let schemas = SCIMJSON.member(body, "schemas")?.array?.compactMap(\.string), schemas.contains(schema) else {
            throw SCIMError.invalidSyntax("schemas: a PATCH body names \(schema)")
        }
        guard let list = SCIMJSON.member(body, "Operations")?.array, !list.isEmpty else {
            throw SCIMError.invalidSyntax("Operations: expected a list of at least one operation")
        }
        guard list.count <= 1000 else { throw SCIMError.invalidSyntax("Operations: at most 1000 operations in one request") }
        return try list.enumerated().map { i, item in
            guard let opText = SCIMJSON.member(item, "op")?.string, let op = Op(rawValue: opText.lowercased()) else {
                throw SCIMError.invalidSyntax("Operations[\(i)].op: expected add, replace or remove")
            }
            let path = SCIMJSON.member(item, "path")
            if let path, path.string == nil { throw SCIMError.invalidPath("Operations[\(i)].path: expected a string") }
            return Operation(op: op, path: path?.string, value: SCIMJSON.member(item, "value"))
        }
    }

    /// `resource` with `operations` applied in order.
    func apply(_ operations: [Operation], to resource: JSONValue) throws -> JSONValue {
        guard case .object(var object) = resource else { return resource }
        for (i, operation) in operations.enumerated() {
            do {
                try apply(operation, to: &object)
            } catch let error as SCIMError {
                throw SCIMError(status: error.status, scimType: error.scimType, detail: "Operations[\(i)]: \(error.detail)")
            }
        }
        return .object(object)
    }

    private func apply(_ operation: Operation, to object: inout [String: JSONValue]) throws {
        guard let pathText = operation.path, !pathText.isEmpty else {
            guard operation.op != .remove else { throw SCIMError.noTarget("remove needs a path") }
            guard case .object(let values)? = operation.value else {
                throw SCIMError.invalidValue("\(operation.op.rawValue) without a path needs an object of attributes as its value")
            }
            for (key, value) in values.sorted(by: { $0.key < $1.key }) {
                if case .object(let inner) = value, SCIMPath(key, coreSchemas: coreSchemas)?.urn != nil {
                    // A whole extension object: {"urn:…:enterprise:2.0:User": {"department": "x"}}.
                    for (sub, subValue) in inner { try apply(Operation(op: operation.op, path: key + ":" + sub, value: subValue), to: &object) }
                } else {
                    try apply(Operation(op: operation.op, path: key, value: value), to: &object)
                }
            }
            return
        }
        let parsed: (path: SCIMPath, filter: SCIMFilter?, subAttribute: String?)
        do {
            parsed = try SCIMFilterParser.patchPath(pathText, coreSchemas: coreSchemas)
        } catch let failure as SCIMFilterParser.Failure {
            throw SCIMError.invalidPath("path: \(failure.message)")
        }
        guard let urn = parsed.path.urn else { return try apply(operation, parsed.path, parsed.filter, parsed.subAttribute, in: &object) }
        let key = SCIMJSON.key(object, urn) ?? urn
        var container = object[key]?.object ?? [:]
        try apply(operation, parsed.path, parsed.filter, parsed.subAttribute, in: &container)
        object[key] = container.isEmpty ? nil : .object(container)
    }

    private func apply(_ operation: Operation, _ path: SCIMPath, _ filter: SCIMFilter?, _ sub: String?, in object: inout [String: JSONValue]) throws {
        let key = SCIMJSON.key(object, path.attribute) ?? path.attribute
        let existing = object[key]
        if operation.op != .remove, operation.value == nil { throw SCIMError.invalidValue("\(operation.op.rawValue) needs a value") }
        if let filter {
            object[key] = try applyFiltered(operation, filter: filter, sub: sub, items: existing?.array ?? [])
        } else if let sub = sub ?? path.subAttribute {
            object[key] = try applySub(operation, sub: sub, to: existing)
        } else {
            object[key] = try applyWhole(operation, to: existing)
        }
        if case .array(let a)? = object[key], a.isEmpty { object[key] = nil }
        if case .null? = object[key] { object[key] = nil }
    }

    private func applyWhole(_ operation: Operation, to existing: JSONValue?) throws -> JSONValue? {
        let value = operation.value ?? .null
        switch operation.op {
        case .remove:
            // Remove with a value (Entra ID: members minus [{"value": id}]): only those elements go.
            guard let items = existing?.array, case .array(let gone)? = operation.value else { return nil }
            let ids = Set(gone.compactMap { SCIMJSON.member($0, "value")?.string })
            return .array(items.filter { item in !(SCIMJSON.member(item, "value")?.string.map(ids.contains) ?? false) })
        case .add:
            if case .array(let items)? = existing {
                let added = value.array ?? [value]
                return .array(items + added.filter { !items.contains($0) })
            }
            if case .object(let old)? = existing, case .object(let new) = value { return .object(old.merging(new) { $1 }) }
            return value
        case .replace:
            if case .object(let old)? = existing, case .object(let new) = value { return .object(old.merging(new) { $1 }) }
            return value
        }
    }

    private func applySub(_ operation: Operation, sub: String, to existing: JSONValue?) throws -> JSONValue? {
        func set(_ element: JSONValue) -> JSONValue {
            var object = element.object ?? [:]
            let key = SCIMJSON.key(object, sub) ?? sub
            object[key] = operation.op == .remove ? nil : operation.value
            return .object(object)
        }
        switch existing {
        case .array(let items)?:
            if items.isEmpty, operation.op != .remove { return .array([set(.object([:]))]) }
            return .array(items.map(set))
        case let value?: return set(value)
        case nil: return operation.op == .remove ? nil : set(.object([:]))
        }
    }

    private func applyFiltered(_ operation: Operation, filter: SCIMFilter, sub: String?, items: [JSONValue]) throws -> JSONValue {
        var items = items
        let matching = items.indices.filter { filter.matches(items[$0]) }
        switch operation.op {
        case .remove:
            if let sub {
                for i in matching {
                    var object = items[i].object ?? [:]
                    object[SCIMJSON.key(object, sub) ?? sub] = nil
                    items[i] = .object(object)
                }
            } else {
                items = items.indices.filter { !matching.contains($0) }.map { items[$0] }
            }
        case .add, .replace:
            let value = operation.value ?? .null
            guard !matching.isEmpty else {
                // `emails[type eq "work"].value` on a user without a work email: the element is created.
                guard case .compare(let p, .eq, let v) = filter, p.subAttribute == nil, p.urn == nil else {
                    throw SCIMError.noTarget("no value matches the filter of the path")
                }
                var element: [String: JSONValue] = [p.attribute: v]
                if let sub { element[sub] = value } else if case .object(let o) = value { element.merge(o) { $1 } }
                items.append(.object(element))
                return .array(items)
            }
            for i in matching {
                var object = items[i].object ?? [:]
                if let sub {
                    object[SCIMJSON.key(object, sub) ?? sub] = value
                } else if case .object(let new) = value {
                    object = operation.op == .add ? object.merging(new) { $1 } : new
                }
                items[i] = .object(object)
            }
        }
        return .array(items)
    }
}
