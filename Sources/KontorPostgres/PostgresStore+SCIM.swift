import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: SCIMStore {
    public func scimUsers() async throws -> [SCIMUserLink] {
        try await rows("SELECT * FROM scim_users ORDER BY created_at, id", Self.record)
    }

    public func saveSCIMUser(_ link: SCIMUserLink, person: PersonWrite?) async throws {
        try await transaction { tx in
            switch person {
            case .insert(let p): try await Self.insert(tx, p)
            case .update(let p): guard try await Self.update(tx, p) else { throw StoreError.unknownPerson(p.id) }
            case .rehire(let p): try await Self.rehire(tx, p)
            case nil: break
            }
            do {
                try await tx.run(
                    """
                    INSERT INTO scim_users (id, person_id, user_name, user_name_key, external_id, created_at, updated_at, deleted_at)
                    VALUES (\(link.id), \(link.personId), \(link.userName), \(link.userName.lowercased()), \(link.externalId), \(seconds(link.createdAt)),
                            \(seconds(link.updatedAt)), \(seconds(link.deletedAt)))
                    ON CONFLICT (id) DO UPDATE SET person_id = excluded.person_id, user_name = excluded.user_name,
                        user_name_key = excluded.user_name_key, external_id = excluded.external_id, updated_at = excluded.updated_at,
                        deleted_at = excluded.deleted_at
                    """)
            } catch let error where PostgresErrors.isUniqueViolation(error) {
                throw StoreError.userNameTaken(link.userName)
            } catch let error where PostgresErrors.isForeignKeyViolation(error) {
                throw StoreError.unknownPerson(link.personId)
            }
        }
    }

    public func scimGroups() async throws -> [SCIMGroup] {
        try await rows("SELECT * FROM scim_groups ORDER BY created_at, id", Self.record)
    }

    public func saveSCIMGroup(_ group: SCIMGroup, members: [Person]) async throws {
        try await transaction { tx in
            do {
                try await tx.run(
                    """
                    INSERT INTO scim_groups (id, display_name, name, external_id, created_at, updated_at, deleted_at)
                    VALUES (\(group.id), \(group.displayName), \(group.name), \(group.externalId), \(seconds(group.createdAt)), \(seconds(group.updatedAt)),
                            \(seconds(group.deletedAt)))
                    ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, name = excluded.name,
                        external_id = excluded.external_id, updated_at = excluded.updated_at, deleted_at = excluded.deleted_at
                    """)
            } catch let error where PostgresErrors.isUniqueViolation(error) {
                throw StoreError.groupNameTaken(group.name)
            }
            for person in members {
                let updated = try await tx.row(
                    "UPDATE persons SET group_names = \(try encodeJSON(person.groups)) WHERE id = \(person.id) RETURNING 1"
                ) { _ in true }
                guard updated != nil else { throw StoreError.unknownPerson(person.id) }
            }
        }
    }
}
