import Plot
import TallyCore

// Plot escapes text nodes but writes attribute values as given: a name with a quote in it would end the attribute.
// So TallyWeb re-declares every Plot helper that takes an attribute value as a `String`, with the same name and
// signature, escaping the value. Declarations of this module shadow Plot's, so in the pages `.href(x)`,
// `.value(x)`, `.attribute(named:value:)` … are these: the plain way to write an attribute is the escaped one, and
// there is no `esc` to forget (or to apply twice). (A module that imports both Plot and TallyWeb gets "ambiguous use"
// for these names, so it cannot fall back on Plot's silently either.) Only this file builds a Plot `Attribute` by hand;
// `scripts/check-attributes` (run by `scripts/test`) fails on one built elsewhere, and on a Plot helper used with a
// computed value that is not re-declared here.

/// Escapes the five characters that matter in HTML text and quoted attribute values. For `.raw` markup only; the
/// attribute helpers below call it themselves.
package func escape(_ text: String) -> String { TextEncoding.html(text) }

/// The one place an attribute is made: its value escaped.
private func escaped<Context>(
    _ name: String, _ value: String?, ignoreIfValueIsEmpty: Bool = true
) -> Attribute<Context> {
    Attribute(name: name, value: value.map(escape), ignoreIfValueIsEmpty: ignoreIfValueIsEmpty)
}

// MARK: Any attribute

extension Node {
    /// Any attribute by name; left out when `value` is nil (or empty, unless `ignoreIfValueIsEmpty` is false).
    package static func attribute(named name: String, value: String?, ignoreIfValueIsEmpty: Bool = true) -> Node {
        .attribute(escaped(name, value, ignoreIfValueIsEmpty: ignoreIfValueIsEmpty))
    }

    /// `data-value` carries a figure exactly as the API writes it, kept even when empty (an unknown cost), so scripts
    /// and tests can tell "no value" from "no attribute".
    package static func dataValue(_ value: String) -> Node {
        .attribute(named: "data-value", value: value, ignoreIfValueIsEmpty: false)
    }
}

extension Attribute {
    package static func attribute(named name: String, value: String?) -> Attribute { escaped(name, value) }
}

// MARK: Plot's helpers that take a String value

extension Node where Context: HTMLContext {
    package static func id(_ id: String) -> Node { .attribute(escaped("id", id)) }
    package static func `class`(_ className: String) -> Node { .attribute(escaped("class", className)) }
    package static func data(named name: String, value: String) -> Node { .attribute(escaped("data-\(name)", value)) }
}

extension Attribute where Context: HTMLContext {
    package static func id(_ id: String) -> Attribute { escaped("id", id) }
    package static func `class`(_ className: String) -> Attribute { escaped("class", className) }
    package static func data(named name: String, value: String) -> Attribute { escaped("data-\(name)", value) }
}

extension Node where Context: HTMLNamableContext {
    package static func name(_ name: String) -> Node { .attribute(escaped("name", name)) }
}

extension Attribute where Context: HTMLNamableContext {
    package static func name(_ name: String) -> Attribute { escaped("name", name) }
}

extension Node where Context: HTMLValueContext {
    package static func value(_ value: String) -> Node { .attribute(escaped("value", value)) }
}

extension Attribute where Context: HTMLValueContext {
    package static func value(_ value: String) -> Attribute { escaped("value", value) }
}

extension Node where Context: HTMLLinkableContext {
    package static func href(_ url: String) -> Node { .attribute(escaped("href", url)) }
}

extension Attribute where Context: HTMLLinkableContext {
    package static func href(_ url: String) -> Attribute { escaped("href", url) }
}

extension Node where Context: HTMLSourceContext {
    package static func src(_ url: String) -> Node { .attribute(escaped("src", url)) }
}

extension Attribute where Context: HTMLSourceContext {
    package static func src(_ url: String) -> Attribute { escaped("src", url) }
}

extension Node where Context == HTML.FormContext {
    package static func action(_ url: String) -> Node { .attribute(escaped("action", url)) }
}

extension Node where Context == HTML.LabelContext {
    package static func `for`(_ target: String) -> Node { .attribute(escaped("for", target)) }
}

extension Attribute where Context == HTML.InputContext {
    package static func placeholder(_ placeholder: String) -> Attribute { escaped("placeholder", placeholder) }
}

extension Attribute where Context == HTML.OptionContext {
    package static func label(_ label: String) -> Attribute { escaped("label", label) }
}

extension Attribute where Context == HTML.MetaContext {
    package static func content(_ content: String) -> Attribute { escaped("content", content) }
}
