import TallyCore

// CONTRACT STUB (issue 17): helper B replaces this file with the budgets table's queries.
extension SQLStore {
    public func createBudget(_ budget: Budget, audit: AuditRecord) async throws { fatalError("issue 17: budgets") }
    public func updateBudget(_ budget: Budget, audit: AuditRecord) async throws { fatalError("issue 17: budgets") }
    public func deleteBudget(organizationID: String, id: String, audit: AuditRecord) async throws {
        fatalError("issue 17: budgets")
    }
    public func budgets(organizationID: String) async throws -> [Budget] { fatalError("issue 17: budgets") }
    public func budget(organizationID: String, id: String) async throws -> Budget? { fatalError("issue 17: budgets") }
    public func projectBudget(organizationID: String, projectID: String) async throws -> Budget? {
        fatalError("issue 17: budgets")
    }
    public func enabledBudgets() async throws -> [Budget] { fatalError("issue 17: budgets") }
}
