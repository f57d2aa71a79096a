// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {NextSystem, CloneArgs} from "./NextSystem.sol";
import {RelationshipCore} from "./RelationshipCore.sol";

/// @title Prototype design A: the PPR implementation every relationship clone forwards to.
/// @notice A relationship is an EIP-1167 clone created by the factory with CREATE2; its code
/// carries [provider (20)][patient's Summary (20)][the provider's salt (32)][endpoint at
/// creation]. Nothing is initialised: what the live PPR's constructor set is in the clone's
/// code, fixed by CREATE2, and no function writes it.
contract CloneRelationship is RelationshipCore {
    /// @notice Fixed in the clone's code. The implementation itself has no parties.
    function provider() public view override returns (address) {
        if (address(this) == NextSystem.PPR_IMPLEMENTATION) revert NotClone();
        return CloneArgs.argAddress(0);
    }

    function patientSummary() public view override returns (address) {
        if (address(this) == NextSystem.PPR_IMPLEMENTATION) revert NotClone();
        return CloneArgs.argAddress(20);
    }

    function _firstEndpoint() internal view override returns (string memory) {
        return string(CloneArgs.argTail(72));
    }
}
