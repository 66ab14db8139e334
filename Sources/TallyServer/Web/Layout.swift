import Plot

/// The page shell: one stylesheet of our own, system fonts, one accent colour, no third-party assets.
enum Layout {
    static let css = """
    :root{--accent:#2f6fde;--ink:#1d2330;--muted:#5b6473;--line:#e3e6eb;--bg:#f7f8fa;--bad:#b42318}
    *{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
    header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#fff;border-bottom:1px solid var(--line)}
    header .brand{font-weight:700;color:var(--accent);text-decoration:none}header .spacer{flex:1}
    main{max-width:64rem;margin:1.5rem auto;padding:0 1.2rem}.narrow{max-width:26rem}
    .card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1.4rem}
    h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;font-weight:600;margin:.8rem 0 .25rem}
    input,select{width:100%;padding:.5rem .6rem;border:1px solid var(--line);border-radius:6px;font:inherit}
    button{margin-top:1.1rem;padding:.55rem 1rem;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer}
    button.link{background:none;color:var(--accent);padding:0;margin:0}
    .error{color:var(--bad);font-size:.9rem;margin:.2rem 0 0}.notice{padding:.7rem 1rem;border-radius:6px;background:#fdecea;color:var(--bad);margin-bottom:1rem}
    .muted{color:var(--muted)}table{border-collapse:collapse;width:100%}td,th{padding:.4rem .5rem;border-bottom:1px solid var(--line);text-align:left}
    .num{font-variant-numeric:tabular-nums;text-align:right}
    """

    /// A full page. `csrf` is the token forms of this page carry; `signedIn` adds the header with the organization switcher.
    static func page(title: String, signedIn: SignedInHeader? = nil, _ content: Node<HTML.BodyContext>...) -> String {
        HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .title(title + " · Tally"),
                .style(css)
            ),
            .body(
                .unwrap(signedIn) { header($0) },
                .main(.group(content))
            )
        ).render()
    }

    struct SignedInHeader {
        var userName: String
        var organizationID: String
        var organizations: [(id: String, name: String)]
        var csrf: String
    }

    static func header(_ h: SignedInHeader) -> Node<HTML.BodyContext> {
        .header(
            .a(.class("brand"), .href("/"), "Tally"),
            .span(.class("spacer")),
            .if(h.organizations.count > 1,
                .form(.method(.post), .action("/organizations/switch"),
                      .input(.type(.hidden), .name("_csrf"), .value(h.csrf)),
                      .select(.attribute(named: "name", value: "organization_id"), .attribute(named: "onchange", value: "this.form.submit()"),
                              .forEach(h.organizations) { org in
                                  .option(.value(org.id), .label(org.name), .isSelected(org.id == h.organizationID))
                              }),
                      .noscript(.button(.type(.submit), "Switch")))),
            .span(.class("muted"), .text(h.userName)),
            .form(.method(.post), .action("/logout"),
                  .input(.type(.hidden), .name("_csrf"), .value(h.csrf)),
                  .button(.class("link"), .type(.submit), "Sign out"))
        )
    }

    /// A labelled input with its error underneath; the typed value is kept (never for passwords).
    static func field(_ label: String, name: String, type: HTMLInputType, value: String = "", error: String? = nil,
                      autocomplete: String? = nil) -> Node<HTML.FormContext> {
        .group(
            .label(.for(name), .text(label)),
            .input(.id(name), .name(name), .type(type), .value(type == .password ? "" : value), .required(true),
                   .attribute(named: "autocomplete", value: autocomplete)),
            .unwrap(error) { .p(.class("error"), .id(name + "-error"), .text($0)) }
        )
    }

    static func csrfField(_ token: String) -> Node<HTML.FormContext> {
        .input(.type(.hidden), .name("_csrf"), .value(token))
    }
}
