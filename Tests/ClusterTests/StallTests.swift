@testable import Cluster
import Testing

@Suite("stalls and heartbeat silence")
struct StallTests {
    @Test("a timer late by less than a quarter of the timeout is silence; a longer stall is forgiven whole")
    func forgiven() {
        let interval = Duration.milliseconds(100), timeout = Duration.seconds(10)
        #expect(Stall.forgiven(lateness: .zero, interval: interval, timeout: timeout) == .zero)
        #expect(Stall.forgiven(lateness: .milliseconds(300), interval: interval, timeout: timeout) == .zero)
        #expect(Stall.forgiven(lateness: .milliseconds(2499), interval: interval, timeout: timeout) == .zero)
        #expect(Stall.forgiven(lateness: .milliseconds(2500), interval: interval, timeout: timeout) == .milliseconds(2500))
        #expect(Stall.forgiven(lateness: .seconds(60), interval: interval, timeout: timeout) == .seconds(60))
        // The interval bounds it from below when the timeout is only two intervals.
        #expect(Stall.forgiven(lateness: .milliseconds(999), interval: .seconds(1), timeout: .seconds(2)) == .zero)
        #expect(Stall.forgiven(lateness: .seconds(1), interval: .seconds(1), timeout: .seconds(2)) == .seconds(1))
    }

    @Test("a dead peer is lost within its timeout although every tick runs 3 intervals late")
    func deadPeerUnderLoad() {
        // What the pool's tick does each time it runs, for a peer heard last at 0.
        let interval = Duration.milliseconds(100), timeout = Duration.seconds(10)
        var lastHeard = Duration.zero, now = Duration.zero, lostAt: Duration?
        while lostAt == nil, now < .seconds(60) {
            let lateness = Duration.milliseconds(200)
            now += interval + lateness
            lastHeard += Stall.forgiven(lateness: lateness, interval: interval, timeout: timeout)
            if now - lastHeard > timeout { lostAt = now }
        }
        #expect(lostAt.map { $0 <= timeout + .milliseconds(300) } == true, "lost at \(String(describing: lostAt))")
    }
}
