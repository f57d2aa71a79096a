// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title KVStore: the key-value store BlockBench drives with YCSB (Dinh et al., SIGMOD 2017).
/// @notice String keys, byte-string values. `get` is sent as a transaction by the benchmark
/// (YCSB reads count as transactions there too); `setBatch` is the load phase.
contract KVStore {
    mapping(string => bytes) private _store;

    event Loaded(uint256 count);

    function get(string calldata key) external view returns (bytes memory) {
        return _store[key];
    }

    function set(string calldata key, bytes calldata value) external {
        _store[key] = value;
    }

    function setBatch(string[] calldata keys, bytes[] calldata values) external {
        require(keys.length == values.length, "KVStore: keys and values differ in length");
        for (uint256 i = 0; i < keys.length; i++) _store[keys[i]] = values[i];
        emit Loaded(keys.length);
    }
}
