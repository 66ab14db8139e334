import ArgumentParser
import Foundation
import TallyCore
import TallyServer
import TallyServices

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the master key that seals provider keys.",
        subcommands: [RotateMaster.self])

    struct RotateMaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-master",
            abstract: "Re-encrypt every stored provider key with a new master key, in one transaction.",
            discussion: """
                Reads the current key as `tally serve` does (TALLY_MASTER_KEY, TALLY_MASTER_KEY_FILE or \
                $TALLY_DATA_DIR/master.key) and the new one from --new-key-file (base64 of 32 bytes: \
                openssl rand -base64 32 > new.key). When the current key is the default $TALLY_DATA_DIR/master.key, \
                that file is replaced by the new key after the database commits (the old one is kept as master.key.old). \
                Otherwise restart every replica with the new key (TALLY_MASTER_KEY_FILE=new.key) afterwards.
                """
        )
        @Option(name: .customLong("new-key-file"), help: "File holding the new master key, base64 of 32 bytes.")
        var newKeyFile: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await withConfiguredStore(store.flags, .write) { [newKeyFile] config, logger, store in
                let old: MasterKey
                let new: MasterKey
                do {
                    guard let current = try MasterKeyLoader.load(config, logger: logger, createIfMissing: false) else {
                        fail("no current master key: set TALLY_MASTER_KEY or TALLY_MASTER_KEY_FILE")
                    }
                    old = current
                    new = try MasterKey.read(file: newKeyFile, source: "--new-key-file")
                } catch {
                    fail("\(error)")
                }
                guard old.id != new.id else { fail("the new key is the current key") }
                let count: Int
                do {
                    count = try await Vault.rotate(store: store, from: Vault(master: old), to: Vault(master: new))
                } catch let failure as Vault.Failure {
                    fail("nothing was changed: \(failure.description)")
                }
                let usesDefaultFile = config.masterKey == nil && config.masterKeyFile == nil
                if usesDefaultFile {
                    let path = config.defaultMasterKeyPath
                    try? FileManager.default.removeItem(atPath: path + ".old")
                    try FileManager.default.moveItem(atPath: path, toPath: path + ".old")
                    do { try new.write(to: path) } catch { fail("\(error)") }
                    print(
                        "re-encrypted \(count) secrets with master key \(new.id); \(path) now holds it (the old key is in master.key.old)"
                    )
                } else {
                    print(
                        "re-encrypted \(count) secrets with master key \(new.id); restart every replica with TALLY_MASTER_KEY_FILE=\(newKeyFile)"
                    )
                }
            }
        }
    }
}
