import Foundation
import Logging
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// Where the master key comes from: TALLY_MASTER_KEY, TALLY_MASTER_KEY_FILE, or (embedded SQLite only)
/// `$TALLY_DATA_DIR/master.key`, created with mode 0600 on first start.
public enum MasterKeyLoader {
    public static func load(_ config: TallyConfig, logger: Logger, createIfMissing: Bool) throws(MasterKey.Problem)
        -> MasterKey?
    {
        if let text = config.masterKey { return try MasterKey.parse(base64: text, source: "TALLY_MASTER_KEY") }
        if let path = config.masterKeyFile { return try MasterKey.read(file: path, source: "TALLY_MASTER_KEY_FILE") }
        guard case .sqlite = config.database else {
            // Replicas must share one key, so PostgreSQL never gets an invented one.
            logger.warning(
                "no master key: provider connections are disabled until TALLY_MASTER_KEY or TALLY_MASTER_KEY_FILE is set"
            )
            return nil
        }
        let path = config.defaultMasterKeyPath
        if FileManager.default.fileExists(atPath: path) {
            return try MasterKey.read(file: path, source: "the master key file")
        }
        guard createIfMissing else { return nil }
        let key = MasterKey.generate()
        try key.write(to: path)
        logger.notice(
            "created a master key at \(path) (mode 0600): back it up apart from the database; without it, stored provider keys cannot be read"
        )
        return key
    }
}
