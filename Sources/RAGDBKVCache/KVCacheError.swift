/// An error from the KV-cache store. Nothing is written when a put or an eviction throws,
/// and nothing is served when a read throws.
public struct KVCacheError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// No profile of that name or id.
        case unknownProfile = "kv.unknown_profile"
        /// A profile of that name already exists.
        case profileExists = "kv.profile_exists"
        /// No cache under that key.
        case notFound = "kv.not_found"
        /// The tensor bytes supplied do not match the profile's shape for the token count.
        case sizeMismatch = "kv.size_mismatch"
        /// A field is invalid; `field` names it.
        case invalidInput = "kv.invalid_input"
        /// The cache alone is larger than the profile's budget.
        case overBudget = "kv.over_budget"
        /// A stored segment or record failed its checksum or does not decode.
        case corrupt = "kv.corrupt"
        /// A streamed input could not be read again after the map had to grow.
        case notReplayable = "kv.not_replayable"
    }

    /// What went wrong.
    public let code: Code
    /// The field at fault, for `.invalidInput` and `.sizeMismatch`.
    public let field: String?
    /// A human explanation naming the profile, chunk, variant, layer and segment involved.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { message }
}
