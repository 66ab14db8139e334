import Foundation
import TallyCore

/// OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) → `ExportTraceServiceRequest`.
///
/// The protobuf JSON mapping with OTLP's exceptions, read from Tally's own parser rather than SwiftProtobuf's JSON
/// decoder (which takes ids as base64):
/// - `traceId`, `spanId`, `parentSpanId` (and a link's ids) are hex strings, either case;
/// - enums (`kind`, `status.code`) are integers; their names are accepted too;
/// - 64-bit integers (`intValue`, `startTimeUnixNano`…) are strings or numbers; `doubleValue` a number or
///   `"NaN"`/`"Infinity"`/`"-Infinity"`; `bytesValue` base64;
/// - keys are lowerCamelCase, the proto names (`trace_id`) are accepted; unknown keys are ignored, `null` is the
///   field's default.
/// A value of the wrong type is a malformed body, its path named (`resourceSpans[0].scopeSpans[0].spans[3].kind`).
enum OTLPJSON {
    static func decode(_ body: [UInt8]) throws(TallyError) -> ExportTraceServiceRequest {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw OTLPTraces.bodyProblem("not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        let root = try Members(value, path: "")
        var request = ExportTraceServiceRequest()
        for (i, item) in try root.array("resourceSpans", "resource_spans").enumerated() {
            request.resourceSpans.append(try resourceSpans(item, path: "resourceSpans[\(i)]"))
        }
        return request
    }

    private static func resourceSpans(_ value: JSONValue, path: String) throws(TallyError) -> ResourceSpans {
        let m = try Members(value, path: path)
        var result = ResourceSpans()
        if let resource = m.value("resource") {
            let r = try Members(resource, path: path + ".resource")
            result.resource.attributes = try attributes(r, "attributes")
            result.resource.droppedAttributesCount = try r.uint32("droppedAttributesCount", "dropped_attributes_count")
        }
        result.schemaURL = try m.string("schemaUrl", "schema_url")
        for (i, item) in try m.array("scopeSpans", "scope_spans").enumerated() {
            result.scopeSpans.append(try scopeSpans(item, path: path + ".scopeSpans[\(i)]"))
        }
        return result
    }

    private static func scopeSpans(_ value: JSONValue, path: String) throws(TallyError) -> ScopeSpans {
        let m = try Members(value, path: path)
        var result = ScopeSpans()
        if let scope = m.value("scope") {
            let s = try Members(scope, path: path + ".scope")
            result.scope.name = try s.string("name")
            result.scope.version = try s.string("version")
            result.scope.attributes = try attributes(s, "attributes")
            result.scope.droppedAttributesCount = try s.uint32("droppedAttributesCount", "dropped_attributes_count")
        }
        result.schemaURL = try m.string("schemaUrl", "schema_url")
        for (i, item) in try m.array("spans").enumerated() {
            result.spans.append(try span(item, path: path + ".spans[\(i)]"))
        }
        return result
    }

    private static func span(_ value: JSONValue, path: String) throws(TallyError) -> Span {
        let m = try Members(value, path: path)
        var span = Span()
        span.traceID = try m.hexID("traceId", "trace_id")
        span.spanID = try m.hexID("spanId", "span_id")
        span.traceState = try m.string("traceState", "trace_state")
        span.parentSpanID = try m.hexID("parentSpanId", "parent_span_id")
        span.flags = try m.uint32("flags")
        span.name = try m.string("name")
        span.kind = Span.SpanKind(rawValue: try m.enumValue("kind", names: spanKinds)) ?? .unspecified
        span.startTimeUnixNano = try m.uint64("startTimeUnixNano", "start_time_unix_nano")
        span.endTimeUnixNano = try m.uint64("endTimeUnixNano", "end_time_unix_nano")
        span.attributes = try attributes(m, "attributes")
        span.droppedAttributesCount = try m.uint32("droppedAttributesCount", "dropped_attributes_count")
        for (i, item) in try m.array("events").enumerated() {
            let e = try Members(item, path: path + ".events[\(i)]")
            var event = Span.Event()
            event.timeUnixNano = try e.uint64("timeUnixNano", "time_unix_nano")
            event.name = try e.string("name")
            event.attributes = try attributes(e, "attributes")
            event.droppedAttributesCount = try e.uint32("droppedAttributesCount", "dropped_attributes_count")
            span.events.append(event)
        }
        span.droppedEventsCount = try m.uint32("droppedEventsCount", "dropped_events_count")
        for (i, item) in try m.array("links").enumerated() {
            let l = try Members(item, path: path + ".links[\(i)]")
            var link = Span.Link()
            link.traceID = try l.hexID("traceId", "trace_id")
            link.spanID = try l.hexID("spanId", "span_id")
            link.traceState = try l.string("traceState", "trace_state")
            link.attributes = try attributes(l, "attributes")
            link.droppedAttributesCount = try l.uint32("droppedAttributesCount", "dropped_attributes_count")
            link.flags = try l.uint32("flags")
            span.links.append(link)
        }
        span.droppedLinksCount = try m.uint32("droppedLinksCount", "dropped_links_count")
        if let status = m.value("status") {
            let s = try Members(status, path: path + ".status")
            span.status.message = try s.string("message")
            span.status.code = SpanStatus.StatusCode(rawValue: try s.enumValue("code", names: statusCodes)) ?? .unset
        }
        return span
    }

    private static let spanKinds = [
        "SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
        "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
    ]
    private static let statusCodes = ["STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2]

    private static func attributes(_ m: Members, _ name: String) throws(TallyError) -> [KeyValue] {
        var result: [KeyValue] = []
        for (i, item) in try m.array(name).enumerated() {
            result.append(try keyValue(item, path: m.path + ".\(name)[\(i)]"))
        }
        return result
    }

    private static func keyValue(_ value: JSONValue, path: String) throws(TallyError) -> KeyValue {
        let m = try Members(value, path: path)
        var kv = KeyValue()
        kv.key = try m.string("key")
        if let v = m.value("value") { kv.value = try anyValue(v, path: path + ".value") }
        return kv
    }

    /// An attribute value. Its nesting is bounded by the parser's (64 levels), so the recursion is too.
    private static func anyValue(_ value: JSONValue, path: String) throws(TallyError) -> AnyValue {
        let m = try Members(value, path: path)
        var result = AnyValue()
        if let v = m.value("stringValue", "string_value") {
            result.stringValue = try Members.string(v, path: path + ".stringValue")
        } else if let v = m.value("boolValue", "bool_value") {
            guard case .bool(let b) = v else { throw Members.problem(path + ".boolValue", "must be true or false") }
            result.boolValue = b
        } else if let v = m.value("intValue", "int_value") {
            result.intValue = try Members.int64(v, path: path + ".intValue")
        } else if let v = m.value("doubleValue", "double_value") {
            result.doubleValue = try Members.double(v, path: path + ".doubleValue")
        } else if let v = m.value("arrayValue", "array_value") {
            let a = try Members(v, path: path + ".arrayValue")
            var array = ArrayValue()
            for (i, item) in try a.array("values").enumerated() {
                array.values.append(try anyValue(item, path: a.path + ".values[\(i)]"))
            }
            result.arrayValue = array
        } else if let v = m.value("kvlistValue", "kvlist_value") {
            let l = try Members(v, path: path + ".kvlistValue")
            var list = KeyValueList()
            for (i, item) in try l.array("values").enumerated() {
                list.values.append(try keyValue(item, path: l.path + ".values[\(i)]"))
            }
            result.kvlistValue = list
        } else if let v = m.value("bytesValue", "bytes_value") {
            let text = try Members.string(v, path: path + ".bytesValue")
            guard let data = base64(text) else { throw Members.problem(path + ".bytesValue", "must be base64") }
            result.bytesValue = data
        }
        return result
    }

    /// Standard or URL-safe base64, padded or not.
    private static func base64(_ text: String) -> Data? {
        var s = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        if s.utf8.count % 4 != 0 { s += String(repeating: "=", count: 4 - s.utf8.count % 4) }
        return Data(base64Encoded: s)
    }
}

/// One JSON object's members and where it is, with the typed reads of the protobuf JSON mapping.
private struct Members {
    let members: [(String, JSONValue)]
    let path: String

    init(_ value: JSONValue, path: String) throws(TallyError) {
        switch value {
        case .object(let members): self.members = members
        case .null: self.members = []
        default: throw Self.problem(path, "must be an object")
        }
        self.path = path
    }

    static func problem(_ path: String, _ reason: String) -> TallyError {
        OTLPTraces.bodyProblem(path.isEmpty ? "the request \(reason)" : "\(path) \(reason)")
    }

    func at(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// The member named `name` (lowerCamelCase) or `protoName`, nil when absent or null.
    func value(_ name: String, _ protoName: String? = nil) -> JSONValue? {
        for (key, value) in members where key == name || key == protoName {
            if case .null = value { continue }
            return value
        }
        return nil
    }

    func string(_ name: String, _ protoName: String? = nil) throws(TallyError) -> String {
        guard let v = value(name, protoName) else { return "" }
        return try Self.string(v, path: at(name))
    }

    static func string(_ v: JSONValue, path: String) throws(TallyError) -> String {
        guard case .string(let s) = v else { throw problem(path, "must be a string") }
        return s
    }

    func array(_ name: String, _ protoName: String? = nil) throws(TallyError) -> [JSONValue] {
        guard let v = value(name, protoName) else { return [] }
        guard case .array(let items) = v else { throw Self.problem(at(name), "must be an array") }
        return items
    }

    /// An integer's text: a JSON number or a string holding one, as the protobuf JSON mapping allows for 64 bits.
    private static func integerText(_ v: JSONValue, path: String) throws(TallyError) -> String {
        switch v {
        case .number(let text), .string(let text): return text
        default: throw problem(path, "must be an integer (a number or a string)")
        }
    }

    /// An integer literal, or an integral number written with a fraction or an exponent (`1.0`, `1e3`) small enough
    /// to be exact in a Double.
    private static func integer<T: FixedWidthInteger>(_ text: String, as: T.Type) -> T? {
        if let n = T(text) { return n }
        guard let d = Double(text), d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 else { return nil }
        return T(exactly: d)
    }

    static func int64(_ v: JSONValue, path: String) throws(TallyError) -> Int64 {
        guard let n = integer(try integerText(v, path: path), as: Int64.self) else {
            throw problem(path, "must be a 64-bit integer")
        }
        return n
    }

    func uint64(_ name: String, _ protoName: String? = nil) throws(TallyError) -> UInt64 {
        guard let v = value(name, protoName) else { return 0 }
        guard let n = Self.integer(try Self.integerText(v, path: at(name)), as: UInt64.self) else {
            throw Self.problem(at(name), "must be an unsigned 64-bit integer")
        }
        return n
    }

    func uint32(_ name: String, _ protoName: String? = nil) throws(TallyError) -> UInt32 {
        guard let v = value(name, protoName) else { return 0 }
        guard let n = Self.integer(try Self.integerText(v, path: at(name)), as: UInt32.self) else {
            throw Self.problem(at(name), "must be an unsigned 32-bit integer")
        }
        return n
    }

    static func double(_ v: JSONValue, path: String) throws(TallyError) -> Double {
        let text: String
        switch v {
        case .number(let t): text = t
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        case .string(let t): text = t
        default: throw problem(path, "must be a number")
        }
        guard let d = Double(text), d.isFinite else { throw problem(path, "must be a number") }
        return d
    }

    /// An enum: its number (OTLP/JSON) or its name.
    func enumValue(_ name: String, names: [String: Int]) throws(TallyError) -> Int {
        switch value(name) {
        case nil: return 0
        case .number(let text)?:
            guard let n = Int32(text) else { throw Self.problem(at(name), "must be an enum number") }
            return Int(n)
        case .string(let s)?:
            guard let n = names[s] else { throw Self.problem(at(name), "is not a known value") }
            return n
        default: throw Self.problem(at(name), "must be an enum number")
        }
    }

    /// A trace or span id: hex, as OTLP/JSON writes them (not base64). Its length is the mapping's to judge.
    func hexID(_ name: String, _ protoName: String) throws(TallyError) -> Data {
        guard let v = value(name, protoName) else { return Data() }
        guard case .string(let s) = v, let data = Self.hex(s) else {
            throw Self.problem(at(name), "must be a hex string")
        }
        return data
    }

    private static func hex(_ s: String) -> Data? {
        let digits = Array(s.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var data = Data(capacity: digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            data.append(high << 4 | low)
            i += 2
        }
        return data
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
