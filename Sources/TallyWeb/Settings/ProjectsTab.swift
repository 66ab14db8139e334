import Plot
import TallyCore

/// Settings → Projects: the organization's projects; admins archive, restore, rename and create them.
extension SettingsPages {
    package enum ProjectsTab {
        package struct Model: Sendable {
            package var projects: [Project]
        }

        package static func load(store: some ProjectStore, organizationID: String) async throws -> Model {
            Model(projects: try await store.projects(organizationID: organizationID))
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.projects(page, projects: m.projects)
        }
    }

    package static func projects(_ page: SignedInPage, projects: [Project]) -> String {
        let admin = page.allows(.manageProjects)
        return self.page(
            page, .projects,
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "projects-heading"),
                .h2(.id("projects-heading"), "Projects"),
                .p(
                    .class("muted"),
                    "Each API token belongs to a project; events are attributed to it. Archived projects keep their data and take no new events."
                ),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("projects"),
                        .thead(.tr(.th("Name"), .th("Created"), .th("Status"), .th("Actions"))),
                        .tbody(
                            .forEach(projects) { p in
                                .tr(
                                    .data(named: "project-id", value: p.id),
                                    .td(
                                        .a(
                                            .href("/usage?group_by=feature&project=" + URLText.percentEncoded(p.name)),
                                            .text(p.name))),
                                    .td(.text(Format.localTime(p.createdAt, zone: page.zone))),
                                    .td(.text(p.archivedAt == nil ? "active" : "archived")),
                                    .td(
                                        .if(
                                            admin,
                                            .div(
                                                .class("actions"),
                                                p.archivedAt == nil
                                                    ? actionButton(
                                                        "Archive", api: "PATCH /api/v1/projects/\(p.id)",
                                                        confirm: "Archive '\(p.name)'? It will refuse new events.",
                                                        action: "archive", body: #"{"archived":true}"#)
                                                    : actionButton(
                                                        "Restore", api: "PATCH /api/v1/projects/\(p.id)",
                                                        action: "restore", body: #"{"archived":false}"#),
                                                .element(
                                                    named: "details",
                                                    nodes: [
                                                        .element(named: "summary", text: "Rename"),
                                                        apiForm(
                                                            "rename-\(p.id)", "PATCH /api/v1/projects/\(p.id)",
                                                            submit: "Rename",
                                                            field(
                                                                "rename-\(p.id)", "New name", name: "name",
                                                                value: p.name, required: true)),
                                                    ])), else: .text("—"))))
                            })))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "new-project-heading"),
                .h2(.id("new-project-heading"), "New project"),
                .if(
                    admin,
                    apiForm(
                        "create-project", "POST /api/v1/projects", submit: "Create project",
                        field(
                            "create-project", "Name", name: "name", hint: "1-64 characters, no spaces or commas.",
                            required: true)),
                    else: onlyFor(.admin, "create projects")))
        )
    }
}
