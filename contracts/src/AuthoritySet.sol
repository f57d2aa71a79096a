// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title AuthoritySet: the current PoA authorities, readable by contracts.
/// @notice A system contract at a fixed address. It has no function that writes state:
/// the node itself writes its storage at block import, from consensus state, so no
/// transaction can ever change who is an authority.
/// Storage layout (relied on by the node, see contracts/predeploys.ts):
///   slot 0: address[] _authorities   (length at slot 0, element i at keccak256(0) + i)
///   slot 1: mapping(address => uint256) _indexPlusOne   (entry at keccak256(pad32(addr) ++ pad32(1)))
contract AuthoritySet {
    address[] private _authorities;
    mapping(address => uint256) private _indexPlusOne;

    function isAuthority(address who) external view returns (bool) {
        return _indexPlusOne[who] != 0;
    }

    function authorities() external view returns (address[] memory) {
        return _authorities;
    }

    function count() external view returns (uint256) {
        return _authorities.length;
    }
}
