import Synchronization
import TallyCore
import TallySafety

/// What the gateway does with one call's content: whether it keeps the bodies (and for how long), and the safety
/// filters that apply to its project, compiled.
package struct CallContentPolicy: Sendable {
    package var settings: ContentSettings
    package var rules: [SafetyRule]
    /// The largest body kept when capturing (TALLY_CONTENT_MAX_BYTES, 256 KiB by default); past it, cut and marked.
    package var captureLimit: Int

    package init(settings: ContentSettings, rules: [SafetyRule], captureLimit: Int) {
        self.settings = settings
        self.rules = rules
        self.captureLimit = captureLimit
    }

    /// No capture and no filters: the gateway reads nothing of the content but what usage and quality need.
    package static let none = CallContentPolicy(settings: .off, rules: [], captureLimit: 0)
}

/// The gateway's view of the organizations' content settings and filters: read once per organization and kept a few
/// seconds (`maxAge`), so a call costs no query; a change made on this replica is seen at once (`invalidate`), on
/// another within `maxAge`.
package final class GatewayContentRules<Store: SafetyFilterStore & EventContentStore>: Sendable {
    package let store: Store
    package let vault: Vault?
    package let captureLimit: Int
    package let maxAge: Duration

    private struct Snapshot: Sendable {
        var settings: [String: ContentSettings]
        var filters: [(projectID: String?, rule: SafetyRule)]
        var loaded: ContinuousClock.Instant
    }

    private let snapshots = Mutex<[String: Snapshot]>([:])

    package init(store: Store, vault: Vault?, captureLimit: Int = 256 << 10, maxAge: Duration = .seconds(5)) {
        self.store = store
        self.vault = vault
        self.captureLimit = captureLimit
        self.maxAge = maxAge
    }

    package func invalidate(organizationID: String) {
        _ = snapshots.withLock { $0.removeValue(forKey: organizationID) }
    }

    /// A project's settings changed (the notifier does not say whose): every organization is read again.
    package func forgetAll() { snapshots.withLock { $0.removeAll() } }

    /// The policy for a call of `projectID`. Capture needs the vault: without a master key nothing is captured.
    package func policy(organizationID: String, projectID: String) async throws -> CallContentPolicy {
        let snapshot = try await snapshot(organizationID)
        var settings = snapshot.settings[projectID] ?? .off
        if vault == nil { settings.capture = .off }
        let rules = snapshot.filters.filter { $0.projectID == nil || $0.projectID == projectID }.map(\.rule)
        return CallContentPolicy(settings: settings, rules: rules, captureLimit: captureLimit)
    }

    private func snapshot(_ organizationID: String) async throws -> Snapshot {
        let now = ContinuousClock.now
        if let kept = snapshots.withLock({ $0[organizationID] }), now - kept.loaded < maxAge { return kept }
        let filters = try await store.safetyFilters(organizationID: organizationID)
        let settings = try await store.contentSettings(organizationID: organizationID)
        let fresh = Snapshot(
            settings: settings,
            filters: filters.compactMap { f in f.rule.map { (f.projectID, $0) } }, loaded: now)
        snapshots.withLock { $0[organizationID] = fresh }
        return fresh
    }
}

/// Where the gateway gets each call's content policy and seals what it captures: `GatewayContentRules` in the
/// server, `NoGatewayContent` where nothing is configured (tests of other concerns).
package protocol GatewayContentSource: Sendable {
    func policy(organizationID: String, projectID: String) async throws -> CallContentPolicy
    /// The bodies sealed for the store under the policy's mode (`redacted`: every detector's finding replaced first);
    /// nil when the policy captures nothing.
    func seal(
        request: [UInt8]?, response: [UInt8]?, policy: CallContentPolicy, organizationID: String, projectID: String,
        eventID: String
    ) -> SealedEventContent?
}

package struct NoGatewayContent: GatewayContentSource {
    package init() {}
    package func policy(organizationID: String, projectID: String) async throws -> CallContentPolicy { .none }
    package func seal(
        request: [UInt8]?, response: [UInt8]?, policy: CallContentPolicy, organizationID: String, projectID: String,
        eventID: String
    ) -> SealedEventContent? { nil }
}

extension GatewayContentRules: GatewayContentSource {
    package func seal(
        request: [UInt8]?, response: [UInt8]?, policy: CallContentPolicy, organizationID: String, projectID: String,
        eventID: String
    ) -> SealedEventContent? {
        guard let vault, policy.settings.capture != .off else { return nil }
        func prepared(_ bytes: [UInt8]?) -> [UInt8]? {
            guard let bytes, policy.settings.capture == .redacted else { return bytes }
            // Redaction reads the body as text; a cut mid-character at the limit is mended by the decoding.
            var budget = ScanBudget()
            return Array(
                SafetyScan.redactAll(String(decoding: bytes, as: UTF8.self), rules: policy.rules, budget: &budget).utf8)
        }
        let retention = Int64(policy.settings.retentionDays) * 86_400_000_000
        return try? vault.sealEventContent(
            request: prepared(request), response: prepared(response), limit: policy.captureLimit,
            mode: policy.settings.capture, expiresAt: Instant(microseconds: Instant.now.microseconds + retention),
            organizationID: organizationID, projectID: projectID, eventID: eventID)
    }
}
