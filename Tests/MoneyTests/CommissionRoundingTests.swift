import Jobs
import XCTest

/// The rounding rule of `CommissionRule`, without a database: half-even per line, earnings the
/// remainder, so commission + earnings is the line total for every amount and rate.
final class CommissionRoundingTests: XCTestCase {
    func testHalfEvenRoundsTiesToTheEvenMinorUnit() throws {
        let rule = CommissionRule(basisPoints: 5_000)   // 50 %
        XCTAssertEqual(try rule.split(lineTotal: 1, monthlySales: 0).commission, 0, "0.5 → 0")
        XCTAssertEqual(try rule.split(lineTotal: 3, monthlySales: 0).commission, 2, "1.5 → 2")
        XCTAssertEqual(try rule.split(lineTotal: 5, monthlySales: 0).commission, 2, "2.5 → 2")
        let tenPercent = CommissionRule(basisPoints: 1_000)
        XCTAssertEqual(try tenPercent.split(lineTotal: 9_999, monthlySales: 0).commission, 1_000, "999.9 → 1000")
        XCTAssertEqual(try tenPercent.split(lineTotal: 9_994, monthlySales: 0).commission, 999, "999.4 → 999")
    }

    func testCommissionPlusEarningsIsTheLineTotalForEveryAmountAndRate() throws {
        for bps in [0, 1, 333, 1_250, 1_999, 5_000, 9_999, 10_000] {
            for flat in [Int64(0), 30] {
                let rule = CommissionRule(basisPoints: bps, flatAmount: flat)
                for total in Int64(0)...2_000 {
                    let split = try rule.split(lineTotal: total, monthlySales: 0)
                    XCTAssertEqual(split.commission + split.earnings, total)
                    XCTAssertGreaterThanOrEqual(split.earnings, 0, "a flat fee never exceeds the line")
                }
            }
        }
    }

    func testTheHighestTierReachedReplacesTheRate() throws {
        let rule = CommissionRule(basisPoints: 1_500, tiers: [.init(minimumMonthlySales: 100_000, basisPoints: 1_000),
                                                              .init(minimumMonthlySales: 500_000, basisPoints: 500)])
        XCTAssertEqual(rule.basisPoints(monthlySales: 99_999), 1_500)
        XCTAssertEqual(rule.basisPoints(monthlySales: 100_000), 1_000)
        XCTAssertEqual(rule.basisPoints(monthlySales: 700_000), 500)
    }

    func testAnOverflowingLineIsRefusedNotWrapped() {
        XCTAssertThrowsError(try CommissionRule(basisPoints: 10_000).split(lineTotal: .max / 2, monthlySales: 0))
    }

    /// A flat amount near Int64's top (a mistyped rule) takes the whole line: before, the sum
    /// trapped, killing the worker at every run of the job.
    func testAFlatAmountPastInt64sRangeTakesTheWholeLineNotTheProcess() throws {
        let split = try CommissionRule(basisPoints: 5_000, flatAmount: .max).split(lineTotal: 10_000, monthlySales: 0)
        XCTAssertEqual([split.commission, split.earnings], [10_000, 0])
        let near = try CommissionRule(basisPoints: 10_000, flatAmount: .max - 10).split(lineTotal: 1_000_000, monthlySales: 0)
        XCTAssertEqual(near.commission + near.earnings, 1_000_000)
        XCTAssertEqual(near.earnings, 0)
    }
}
