// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title SmallBank: the Smallbank OLTP benchmark (Cahill et al.; in BlockBench, Dinh et al.,
/// SIGMOD 2017) as a contract. Each account has a savings and a checking balance.
/// @notice Smallbank's rules, without reverts on a valid workload: WriteCheck may overdraw
/// checking and then costs a penalty of 1; SendPayment without enough in checking and
/// TransactSavings that would make savings negative are declined (no change, a `Declined`
/// event), where Smallbank aborts the transaction. Money enters only by DepositChecking and
/// TransactSavings, and leaves only by TransactSavings (a withdrawal) and WriteCheck (the check
/// and any penalty); Amalgamate and SendPayment move it between accounts.
contract SmallBank {
    mapping(uint256 => int256) private _savings;
    mapping(uint256 => int256) private _checking;

    /// op: 1 SendPayment, 2 TransactSavings.
    event Declined(uint8 op, uint256 indexed account, int256 amount);

    function openAccounts(uint256 first, int256[] calldata savings, int256[] calldata checking) external {
        require(savings.length == checking.length, "SmallBank: savings and checking differ in length");
        for (uint256 i = 0; i < savings.length; i++) {
            require(savings[i] >= 0 && checking[i] >= 0, "SmallBank: opening balances must not be negative");
            _savings[first + i] = savings[i];
            _checking[first + i] = checking[i];
        }
    }

    /// Moves everything of `from` (savings and checking) into the checking of `to`.
    function amalgamate(uint256 from, uint256 to) external {
        int256 total = _savings[from] + _checking[from];
        _savings[from] = 0;
        _checking[from] = 0;
        _checking[to] += total;
    }

    function balance(uint256 account) external view returns (int256) {
        return _savings[account] + _checking[account];
    }

    function depositChecking(uint256 account, uint256 amount) external {
        _checking[account] += int256(amount);
    }

    function sendPayment(uint256 from, uint256 to, uint256 amount) external {
        int256 a = int256(amount);
        if (_checking[from] < a) {
            emit Declined(1, from, a);
            return;
        }
        _checking[from] -= a;
        _checking[to] += a;
    }

    /// Adds `amount` (negative: a withdrawal) to savings, unless that would make them negative.
    function transactSavings(uint256 account, int256 amount) external {
        int256 next = _savings[account] + amount;
        if (next < 0) {
            emit Declined(2, account, amount);
            return;
        }
        _savings[account] = next;
    }

    /// Cashes a check against checking; if savings and checking together cannot cover it,
    /// checking is charged the amount plus a penalty of 1 (it may go negative).
    function writeCheck(uint256 account, uint256 amount) external {
        int256 a = int256(amount);
        if (_savings[account] + _checking[account] < a) _checking[account] -= a + 1;
        else _checking[account] -= a;
    }

    function accountOf(uint256 account) external view returns (int256 savings, int256 checking) {
        return (_savings[account], _checking[account]);
    }
}
