// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {Role} from "../MedRecSystem.sol";
import {NextSystem, CloneArgs} from "./NextSystem.sol";
import {SummaryCore} from "./SummaryCore.sol";

/// @title Prototype design A's Summary: a relationship clone links itself. That it is one the
/// factory made is checked on its code (the CREATE2 address it gives), and which Summary is its
/// patient's is read from the same code: no call to the factory or back to the relationship.
contract CloneSummary is SummaryCore {
    modifier onlyRelationship() {
        if (!CloneArgs.isCloneBy(msg.sender, NextSystem.RELATIONSHIPS)) revert NotRelationship(msg.sender);
        _;
    }

    function addRelationship(Role role, address by) external onlyRelationship returns (bool) {
        return _add(msg.sender, role, CloneArgs.argAddressOf(msg.sender, 20) == address(this), by);
    }

    function relationshipUpdated(address by) external onlyRelationship returns (bool) {
        return _updated(msg.sender, by);
    }

    function relationshipTerminated(address by) external onlyRelationship {
        _terminated(msg.sender, by);
    }
}
