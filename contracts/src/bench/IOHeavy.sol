// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title IOHeavy: BlockBench's storage-bound micro-benchmark (Dinh et al., SIGMOD 2017).
/// @notice `write` stores `n` words at keys start..start+n-1 (the value of a key is
/// keccak256(key), so a reader knows what to expect); `scan` reads a key range back and emits how
/// many keys held their value and the XOR of the values read, which a client can recompute.
contract IOHeavy {
    mapping(uint256 => uint256) private _store;

    event Written(uint256 indexed start, uint256 n);
    event Scanned(uint256 indexed start, uint256 n, uint256 found, uint256 xorOfValues);

    function write(uint256 start, uint256 n) external {
        for (uint256 k = start; k < start + n; k++) _store[k] = valueOf(k);
        emit Written(start, n);
    }

    function scan(uint256 start, uint256 n) external {
        uint256 found = 0;
        uint256 acc = 0;
        for (uint256 k = start; k < start + n; k++) {
            uint256 v = _store[k];
            if (v == valueOf(k)) found++;
            acc ^= v;
        }
        emit Scanned(start, n, found, acc);
    }

    function get(uint256 key) external view returns (uint256) {
        return _store[key];
    }

    function valueOf(uint256 key) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(key)));
    }
}
