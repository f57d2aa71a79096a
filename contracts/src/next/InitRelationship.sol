// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {NextSystem, ICloneFactory} from "./NextSystem.sol";
import {RelationshipCore} from "./RelationshipCore.sol";

/// @title Prototype design A0: the PPR implementation behind plain EIP-1167 clones with an
/// initialiser, as issue 23 first put it: the factory creates the clone and initialises it in the
/// same call; `initialize` accepts only the factory, only once, and never on the implementation.
contract InitRelationship is RelationshipCore {
    address private _provider;
    address private _patientSummary;

    error NotFactory(address caller);
    error AlreadyInitialised();

    function initialize(address provider_, address patientSummary_, string calldata endpoint_) external {
        if (msg.sender != NextSystem.RELATIONSHIPS) revert NotFactory(msg.sender);
        if (address(this) == NextSystem.PPR_IMPLEMENTATION) revert NotClone();
        if (_provider != address(0)) revert AlreadyInitialised();
        _provider = provider_;
        _patientSummary = patientSummary_;
        _endpoint = endpoint_;
    }

    function provider() public view override returns (address) {
        return _provider;
    }

    function patientSummary() public view override returns (address) {
        return _patientSummary;
    }

    function createdAt() external view returns (uint64) {
        return uint64(ICloneFactory(NextSystem.RELATIONSHIPS).createdAt(address(this)));
    }

    function _firstEndpoint() internal pure override returns (string memory) {
        return "";
    }
}
