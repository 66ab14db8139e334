import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// bcrypt, off the event loops: a cost-12 hash takes a quarter of a second of CPU.
public struct Passwords: Sendable {
    public let cost: UInt8
    /// Verified when the email is unknown, so a wrong email takes as long as a wrong password. Made on first need.
    private let decoy = Decoy()

    package final class Decoy: Sendable {
        package let hash = Mutex<String?>(nil)
    }

    public init(cost: UInt8 = 12) { self.cost = cost }

    public func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String?) async throws -> Bool {
        let target: String
        // An empty hash is an account without a password (made by single sign-on): checked against the decoy, so
        // it takes as long as any other refusal, and refused.
        let hash = hash?.isEmpty == true ? nil : hash
        if let hash {
            target = hash
        } else if let existing = decoy.hash.withLock({ $0 }) {
            target = existing
        } else {
            let made = try await self.hash("tally-decoy-password")
            decoy.hash.withLock { $0 = made }
            target = made
        }
        let ok = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: target) }
        // bcrypt stops reading at a NUL; no password set through Tally has one, so one typed with a NUL is wrong.
        return hash != nil && ok && !password.utf8.contains(0)
    }
}
