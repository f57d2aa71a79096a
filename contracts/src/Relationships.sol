// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, Paging, IRegistrar} from "./MedRecSystem.sol";
import {PatientProviderRelationship} from "./PatientProviderRelationship.sol";

/// @title Relationships: the factory of Patient-Provider Relationships and the bounty ledger.
/// @notice A system contract at a fixed address. Only provider accounts (authorities, or
/// per-relationship delegates an authority verified in the Registrar) create relationships,
/// and only with registered patients. Summaries trust exactly the relationships made here.
/// Each provider update of a relationship records a bounty owned by `block.coinbase`: the
/// author of the block that includes the update (the sealer under PoA, the miner under PoW).
contract Relationships {
    struct Bounty {
        address relationship;
        uint256 pointerId;
        uint64 blockNumber;
        uint64 timestamp;
        string query;
    }

    mapping(address => bool) public isRelationship;
    address[] private _all;
    mapping(address => address[]) private _byProvider;
    mapping(address => Bounty[]) private _bounties;

    event RelationshipCreated(address indexed patient, address indexed provider, address relationship);
    event BountyCreated(address indexed owner, address indexed relationship, uint256 indexed pointerId, uint256 index, string query);

    error NotProviderAccount(address caller);
    error PatientNotRegistered(address patient);
    error SelfRelationship(address patient);
    error NotRelationship(address caller);

    /// @notice Creates a relationship in which the caller stewards `patient`'s records. Its
    /// address (CREATE2) depends only on the provider, the patient, the endpoint and `salt`, so a
    /// provider can address follow-up transactions to it before it exists, and they can never
    /// land on another patient's relationship. Reusing a salt for the same pair reverts.
    function create(address patient, string calldata endpoint, bytes32 salt) external returns (address relationship) {
        IRegistrar registrar = IRegistrar(MedRecSystem.REGISTRAR);
        if (!registrar.isProviderAccount(msg.sender)) revert NotProviderAccount(msg.sender);
        if (patient == msg.sender) revert SelfRelationship(patient);
        address summary = registrar.summaryOf(patient);
        if (summary == address(0)) revert PatientNotRegistered(patient);
        relationship = address(new PatientProviderRelationship{salt: _salt(msg.sender, patient, salt)}(summary, msg.sender, endpoint));
        isRelationship[relationship] = true;
        _all.push(relationship);
        _byProvider[msg.sender].push(relationship);
        emit RelationshipCreated(patient, msg.sender, relationship);
    }

    /// @notice Called by a relationship for each provider update; the bounty goes to the block's author.
    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256 index) {
        if (!isRelationship[msg.sender]) revert NotRelationship(msg.sender);
        Bounty[] storage list = _bounties[block.coinbase];
        index = list.length;
        list.push(Bounty(msg.sender, pointerId, uint64(block.number), uint64(block.timestamp), query));
        emit BountyCreated(block.coinbase, msg.sender, pointerId, index, query);
    }

    /// @notice The address `create(patient, endpoint, salt)` called by `provider` gives.
    function predictAddress(address provider, address patient, string calldata endpoint, bytes32 salt) external view returns (address) {
        address summary = IRegistrar(MedRecSystem.REGISTRAR).summaryOf(patient);
        bytes32 initHash = keccak256(abi.encodePacked(type(PatientProviderRelationship).creationCode, abi.encode(summary, provider, endpoint)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), _salt(provider, patient, salt), initHash)))));
    }

    function _salt(address provider, address patient, bytes32 salt) private pure returns (bytes32) {
        return keccak256(abi.encode(provider, patient, salt));
    }

    function relationshipCount() external view returns (uint256) {
        return _all.length;
    }

    function relationships(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_all, offset, limit);
    }

    function relationshipCountOf(address provider) external view returns (uint256) {
        return _byProvider[provider].length;
    }

    function relationshipsOf(address provider, uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_byProvider[provider], offset, limit);
    }

    function bountyCount(address owner) external view returns (uint256) {
        return _bounties[owner].length;
    }

    function bounties(address owner, uint256 offset, uint256 limit) external view returns (Bounty[] memory out) {
        Bounty[] storage list = _bounties[owner];
        (uint256 start, uint256 end) = Paging.bounds(list.length, offset, limit);
        out = new Bounty[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = list[i];
    }
}
