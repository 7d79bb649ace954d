#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The wall clock, injected everywhere time matters so tests set it instead of sleeping.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    /// The current instant.
    public func now() -> Date { read() }

    /// The current instant in whole seconds since 1970.
    public func seconds() -> Int { Int(read().timeIntervalSince1970) }

    /// The system clock.
    public static let system = WallClock { Date() }
}
