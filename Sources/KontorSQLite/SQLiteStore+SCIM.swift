import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: SCIMStore {
    public func scimUsers() async throws -> [SCIMUserLink] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM scim_users ORDER BY created_at, id").map(Self.record) }
    }

    public func saveSCIMUser(_ link: SCIMUserLink, person: PersonWrite?) async throws {
        try await writer.write { db in
            switch person {
            case .insert(let p): try Self.insert(db, p)
            case .update(let p): guard try Self.update(db, p) else { throw StoreError.unknownPerson(p.id) }
            case .rehire(let p): try Self.rehire(db, p)
            case nil: break
            }
            do {
                try db.execute(
                    sql: """
                        INSERT INTO scim_users (id, person_id, user_name, user_name_key, external_id, created_at, updated_at, deleted_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET person_id = excluded.person_id, user_name = excluded.user_name,
                            user_name_key = excluded.user_name_key, external_id = excluded.external_id, updated_at = excluded.updated_at,
                            deleted_at = excluded.deleted_at
                        """,
                    arguments: [
                        link.id, link.personId, link.userName, link.userName.lowercased(), link.externalId, seconds(link.createdAt),
                        seconds(link.updatedAt), seconds(link.deletedAt),
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError.userNameTaken(link.userName)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
                throw StoreError.unknownPerson(link.personId)
            }
        }
    }

    public func scimGroups() async throws -> [SCIMGroup] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM scim_groups ORDER BY created_at, id").map(Self.record) }
    }

    public func saveSCIMGroup(_ group: SCIMGroup, members: [Person]) async throws {
        try await writer.write { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO scim_groups (id, display_name, name, external_id, created_at, updated_at, deleted_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name, name = excluded.name,
                            external_id = excluded.external_id, updated_at = excluded.updated_at, deleted_at = excluded.deleted_at
                        """,
                    arguments: [
                        group.id, group.displayName, group.name, group.externalId, seconds(group.createdAt), seconds(group.updatedAt),
                        seconds(group.deletedAt),
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError.groupNameTaken(group.name)
            }
            for person in members {
                try db.execute(sql: "UPDATE persons SET group_names = ? WHERE id = ?", arguments: [try encodeJSON(person.groups), person.id])
                guard db.changesCount > 0 else { throw StoreError.unknownPerson(person.id) }
            }
        }
    }
}
