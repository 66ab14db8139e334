import Hummingbird
import NIOCore
import TallyCore
import TallyHTTP
import TallyPrice
import TallyServices

/// The instance's price catalog: the revision in force, and newer revisions previewed and applied without a new
/// binary. The catalog is the instance's while tenants are organizations: admins of any organization may preview,
/// only admins of the instance's own organization (the one created first) may apply.
struct CatalogController<Store: AuthenticationStore & CatalogServiceStore> {
    let auth: Authenticator<Store>
    let catalog: CatalogService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("prices/catalog", use: show)
        group.post("prices/catalog", use: update)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        _ = try await auth.require(.read, request)
        _ = try QueryParameters(request, allowed: [])
        return .json(CatalogJSON.inForce(catalog.pricer.inForce))
    }

    /// The body is a whole catalog file. A preview by default; `?apply=true` stores it and prices with it at once.
    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.admin, request)
        let apply = try QueryParameters(request, allowed: ["apply"]).bool("apply") ?? false
        let bytes = try await Self.body(request)
        let organizations = [principal.organizationID]
        guard apply else {
            return .json(CatalogJSON.update(try await catalog.preview(bytes, organizationIDs: organizations)))
        }
        guard try await catalog.isInstanceOrganization(principal.organizationID) else {
            throw TallyError.forbidden(
                "the price catalog is the whole instance's: only admins of the instance's own organization (the one "
                    + "created first) may apply one; admins of other organizations may preview it, or add their own "
                    + "prices with POST /api/v1/prices")
        }
        let update = try await catalog.apply(
            bytes, organizationIDs: organizations, auditOrganizationID: principal.organizationID,
            actor: principal.actor)
        return .json(CatalogJSON.update(update))
    }

    static func body(_ request: Request) async throws -> [UInt8] {
        var request = request
        do {
            return Array(buffer: try await request.collectBody(upTo: CatalogSource.maxBytes))
        } catch is NIOTooManyBytesError {
            throw TallyError.tooLarge("a catalog file is at most \(CatalogSource.maxBytes >> 20) MiB")
        }
    }
}
