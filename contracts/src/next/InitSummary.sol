// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {Role} from "../MedRecSystem.sol";
import {NextSystem, ICloneFactory} from "./NextSystem.sol";
import {SummaryCore} from "./SummaryCore.sol";

interface IPatientSummary {
    function patientSummary() external view returns (address);
}

/// @title Prototype design A0's Summary: the factory's registry vouches for a relationship, which
/// is asked back for its patient's Summary (as the live Summary does).
contract InitSummary is SummaryCore {
    modifier onlyRelationship() {
        if (!ICloneFactory(NextSystem.RELATIONSHIPS).isRelationship(msg.sender)) revert NotRelationship(msg.sender);
        _;
    }

    function addRelationship(Role role, address by) external onlyRelationship returns (bool) {
        return _add(msg.sender, role, IPatientSummary(msg.sender).patientSummary() == address(this), by);
    }

    function relationshipUpdated(address by) external onlyRelationship returns (bool) {
        return _updated(msg.sender, by);
    }

    function relationshipTerminated(address by) external onlyRelationship {
        _terminated(msg.sender, by);
    }
}
