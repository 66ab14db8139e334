import Foundation
import Logging
import TallyCore

/// Every setting of `tally`, parsed once. Flags override the environment; a bad value names its source.
public struct TallyConfig: Sendable {
    public enum DatabaseLocation: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "./tally-data"
    public var database = DatabaseLocation.sqlite(path: "./tally-data/tally.sqlite")
    public var logLevel = Logger.Level.info
    public var timeZone = TimeZoneRules.utc

    public init() {}

    /// A setting with a wrong value: one line for the operator, no stack trace.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var source: String
        public var reason: String
        public var description: String { "\(source) \(reason)" }
    }

    /// The settings' variables, each with the flag that overrides it.
    public enum Key: String, CaseIterable, Sendable {
        case host = "TALLY_HOST", port = "TALLY_PORT", dataDirectory = "TALLY_DATA_DIR"
        case databaseURL = "TALLY_DATABASE_URL", logLevel = "TALLY_LOG_LEVEL", timeZone = "TALLY_TIME_ZONE"
    }

    /// `flags` holds the values given on the command line, by variable.
    public static func load(environment: [String: String], flags: [Key: String]) throws(Problem) -> TallyConfig {
        var config = TallyConfig()
        func value(_ key: Key, flag: String) -> (String, String)? {
            if let v = flags[key] { return (v, flag) }
            if let v = environment[key.rawValue], !v.isEmpty { return (v, key.rawValue) }
            return nil
        }
        if let (v, source) = value(.host, flag: "--host") {
            guard !v.isEmpty, !v.contains(" ") else { throw Problem(source: source, reason: "must be a host name or address (got \"\(v)\")") }
            config.host = v
        }
        if let (v, source) = value(.port, flag: "--port") {
            guard let p = Int(v), (1...65535).contains(p) else {
                throw Problem(source: source, reason: "must be a port number from 1 to 65535 (got \"\(v)\")")
            }
            config.port = p
        }
        if let (v, _) = value(.dataDirectory, flag: "--data-dir") { config.dataDirectory = v }
        config.database = .sqlite(path: (config.dataDirectory as NSString).appendingPathComponent("tally.sqlite"))
        if let (v, source) = value(.databaseURL, flag: "--database-url") {
            guard v.hasPrefix("postgres://") || v.hasPrefix("postgresql://"), URLComponents(string: v)?.host?.isEmpty == false else {
                throw Problem(source: source, reason: "must be a postgres://user:password@host:port/database URL, or unset for the embedded SQLite file (got a value starting \"\(v.prefix(11))\")")
            }
            config.database = .postgres(url: v)
        }
        if let (v, source) = value(.logLevel, flag: "--log-level") {
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw Problem(source: source, reason: "must be one of trace, debug, info, notice, warning, error, critical (got \"\(v)\")")
            }
            config.logLevel = level
        }
        if let (v, source) = value(.timeZone, flag: "--time-zone") {
            guard let zone = TimeZoneRules(identifier: v) else {
                throw Problem(source: source, reason: "must be an IANA time zone such as UTC or Europe/Berlin (got \"\(v)\")")
            }
            config.timeZone = zone
        }
        return config
    }
}
