import TallyCore

/// The instance's price catalog revisions, written once for both dialects.
extension SQLStore {
    public func newestCatalogRevision(newerThan: Instant?) async throws -> CatalogRevisionRecord? {
        var s = SQLStatement(
            dialect, "SELECT revision_us, document, sha256, applied_us, applied_by FROM catalog_revisions")
        if let newerThan {
            s.append(" WHERE revision_us > ")
            s.bind(.int(newerThan.microseconds))
        }
        s.append(" ORDER BY revision_us DESC LIMIT 1")
        let rows = try await database.query(s)
        return try rows.first.map { r in
            CatalogRevisionRecord(
                revision: try r.instant("revision_us"), document: try r.text("document"), sha256: try r.text("sha256"),
                appliedAt: try r.instant("applied_us"), appliedBy: try r.text("applied_by"))
        }
    }

    public func addCatalogRevision(_ record: CatalogRevisionRecord, audit: AuditRecord) async throws {
        let insert = statement([
            (
                "INSERT INTO catalog_revisions (revision_us, document, sha256, applied_us, applied_by) SELECT ",
                .int(record.revision.microseconds)
            ),
            (", ", .text(record.document)), (", ", .text(record.sha256)), (", ", .int(record.appliedAt.microseconds)),
            (", ", .text(record.appliedBy)),
            (
                " WHERE NOT EXISTS (SELECT 1 FROM catalog_revisions WHERE revision_us >= ",
                .int(record.revision.microseconds)
            ),
            (")", nil),
        ])
        do {
            try await database.transaction([SQLStep(insert, expectedChanges: 1), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict {
            throw TallyError.conflict(
                "catalog revision \(record.revision.rfc3339) is not newer than the newest stored revision; nothing was stored"
            )
        }
    }

    public func organizationIDs() async throws -> [String] {
        try await database.query(SQLStatement(dialect, "SELECT id FROM organizations ORDER BY created_us, id"))
            .map { try $0.text("id") }
    }
}
